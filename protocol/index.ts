// Wire formats every component stands on: the control socket, the switchboard's REST API and
// supervisor WebSocket, jobs, durations and the validation kit. No I/O and nothing of ours below.

export * from './validation.js';
export * from './log.js';
export * from './cli.js';
export * from './job.js';
export * from './duration.js';
export * from './image-manifest.js';
export * from './switchboard-api.js';
export * from './switchboard-ws.js';
export * from './control-socket/messages.js';
export * from './control-socket/framing.js';
export * from './control-socket/output-codec.js';
export * from './device-flow.js';
