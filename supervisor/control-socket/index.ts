// Public surface of the control-socket module: wire types and validators, framing, and the
// supervisor-side server. The puppet imports messages.js/framing.js directly to stay small.
export * from './messages.js';
export * from './framing.js';
export * from './output-codec.js';
export * from './server.js';
