// Public surface of the switchboard: the server and the lifecycle rules. Wire types are in protocol/.

export { checkExitStatus, checkStateTransition, type Actor } from './lifecycle.js';
export { Switchboard, DEFAULTS as SWITCHBOARD_DEFAULTS, type SwitchboardOptions } from './server.js';
