// Public surface of the supervisor: start one in-process, or assemble the pieces differently
// (the benchmarks and tests drive JobRunner with their own hosts and links).

export { startSupervisor, type Supervisor, type SupervisorOptions } from './supervisor.js';
export { JobRunner, type JobRunnerDeps } from './job-runner.js';
export {
  SwitchboardConnection,
  connectUrl,
  type SwitchboardConnectionOptions,
  type SwitchboardHandlers,
} from './switchboard-connection.js';
export { parseToSupervisorForJob, type ParseResult } from '../protocol/switchboard-ws.js';
export { loadVerifiedImage, ImageUnavailableError, type LoadOptions } from './image-loader.js';
export {
  fetchStatus,
  ImageFetcher,
  ImageFetchError,
  parseImageMirrors,
  type ImageFetcherOptions,
} from './image-fetch.js';
export { ConsoleBatcher, CONSOLE_LOG_MAX_BYTES } from './console-batcher.js';
export { LocalHostBackend, LOCAL_ENTRYPOINT_ATTR, type LocalHostOptions } from './hosts/local.js';
export { findPuppet, type PuppetCommand } from './hosts/puppet-command.js';
export {
  QemuHostBackend,
  parseQemuConfig,
  defaultQemuConfig,
  type QemuHostOptions,
  type QemuConfig,
} from './hosts/qemu/index.js';
export type {
  Host,
  HostBackend,
  HostCallbacks,
  HostExit,
  HostSpec,
  ReadyInfo,
  SshEndpoint,
  StopMode,
} from './hosts/host.js';
export { createLogger, type Logger, type LogLevel } from '../protocol/log.js';
