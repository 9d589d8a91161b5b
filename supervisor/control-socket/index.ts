// The supervisor-side control-socket server; the wire format itself lives in protocol/control-socket/.
export * from './server.js';
