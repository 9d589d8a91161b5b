// Names and paths both sides of a host agree on: where a puppet finds its supervisor's control
// socket, and where a job finds its puppet and parameters. Constants only, so that importing one
// pulls in no daemon. docs/control-socket.md describes them.

/** The fw_cfg item through which a QEMU host hands its guest the control socket's `IP:PORT`. */
export const FW_CFG_CONTROL_SOCKET_NAME = 'opt/org.tockos.treadmill.tcp-ctrl-socket';

/** Where Linux shows that item inside the guest (the puppet's `--transport auto_discover`). */
export const FW_CFG_CONTROL_SOCKET_PATH = `/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_CONTROL_SOCKET_NAME}/raw`;

/** The job info directory of published images (`job-id`, `host-id`). */
export const DEFAULT_JOB_INFO_DIR = '/run/tml';

/** The parameters directory of published images: one file per job parameter. */
export const DEFAULT_PARAMETERS_DIR = '/run/tml/parameters';

/** The puppet daemon's socket for the local commands. */
export const DEFAULT_PUPPET_SOCKET = '/run/tml/puppet.sock';

/** Environment variables that point the local commands elsewhere (the local host sets them). */
export const PUPPET_SOCKET_ENV = 'TML_PUPPET_SOCKET';
export const PARAMETERS_DIR_ENV = 'TML_PARAMETERS_DIR';
