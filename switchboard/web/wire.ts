// What the job page's script receives: Server-Sent Events and JSON answers. Shared by the server
// (live.ts, plugin.ts) and the browser script (client/), so both sides agree on one shape.

/** One console line: id is the byte offset where it starts; runs are [classes, text]. */
export interface WireLine {
  id: number;
  end: number;
  runs: Array<[string, string]>;
  /** When its first byte was received (ms since the epoch), if known. */
  t: number | null;
  /** The line is not finished: later output may rewrite or extend it. */
  partial?: true;
}

/** SSE `console` event; its SSE id is the offset to resume from (the start of the partial line). */
export interface ConsoleEvent {
  lines: WireLine[];
}

/** SSE `gap` event: bytes [from, to) are no longer stored. */
export interface GapEvent {
  from: number;
  to: number;
}

export interface WireJobEvent {
  seq: number;
  at: number;
  kind: 'state' | 'sub_state' | 'exit_status';
  by: 'switchboard' | 'supervisor';
  state: string;
  stage: string | null;
  message: string | null;
  exitStatus: string | null;
}

/** SSE `job` event: the job's current state and the events after those the page has. */
export interface JobUpdateEvent {
  state: string;
  stage: string | null;
  statusMessage: string | null;
  exitStatus: string | null;
  exitMessage: string | null;
  terminated: boolean;
  events: WireJobEvent[];
}

/** `GET /jobs/:id/console.json`: a window of lines. */
export interface ConsoleWindow {
  lines: WireLine[];
  /** The window covers lines starting in [from, next). */
  from: number;
  next: number;
  /** Offset of the oldest stored byte, and of the end of the console. */
  logStart: number;
  logEnd: number;
}

export interface SearchHit {
  id: number;
  text: string;
}

export interface SearchResult {
  query: string;
  hits: SearchHit[];
  /** More lines matched than were returned. */
  truncated: boolean;
}
