// The qemu host backend's public surface.

export { QemuHostBackend, removeLeftoverJobDirs, type QemuHostOptions } from './backend.js';
export { chooseAccel, TCG, type AccelChoice } from './accel.js';
export { checkChain, parseQemuImgInfo, directBoot, ChainError, QEMU_LAYERED_ATTR, DIRECT_BOOT_ATTR } from './chain.js';
export type { Qcow2Info, ChainDeps, CheckedChain, DirectBoot } from './chain.js';
export {
  defaultQemuArgs,
  renderArgs,
  renderTemplate,
  parseStartScriptOutput,
  sshForwardPort,
  TemplateError,
} from './command-line.js';
export {
  parseQemuConfig,
  defaultQemuConfig,
  parseSocketAddr,
  QEMU_CONFIG_KEYS,
  type QemuConfig,
  type Accel,
} from './config.js';
export { QmpClient, parseQmpLine, LineSplitter, type QmpEvent } from './qmp.js';
