// Public surface of the switchboard: wire types and validators, the lifecycle rules, the server
// and a REST client.

export * from './api.js';
export { checkExitStatus, checkStateTransition, type Actor } from './lifecycle.js';
export { Switchboard, DEFAULTS as SWITCHBOARD_DEFAULTS, type SwitchboardOptions } from './server.js';
export { SwitchboardClient, ApiError, NetworkError } from './client.js';
export { EXIT_CODES as TML_EXIT_CODES, exitCodeFor } from './outcome.js';
export { parseDuration } from './duration.js';
