// The web console: the plugin and today's data adapter, as server.ts mounts them.

export { webConsole, type WebConsoleOptions } from './plugin.js';
export { StoreWebData } from './adapter.js';
export type { WebData } from './data.js';
