// `runcommand` / `killcommand`: commands the supervisor runs on the host.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fromByteArray, type OutputStream, type PuppetEvent } from '../protocol/control-socket/messages.js';
import type { SupervisorConnection } from './connection.js';
import type { Logger } from '../protocol/log.js';

interface Running {
  child: ChildProcess;
  streams: Readable[];
  killed: boolean;
}

/**
 * Runs commands as upstream does: `cmdline` is the program (a path or a PATH name), without
 * arguments or a shell; stdin is empty; the environment is the daemon's plus the given pairs.
 * Each command leads its own process group so `killcommand` reaches everything it started.
 */
export class CommandRunner {
  #running = new Map<number, Running>();
  #paused = false;

  constructor(
    private readonly conn: SupervisorConnection,
    private readonly log: Logger,
  ) {
    conn.on('drain', () => this.#resume());
  }

  get count(): number {
    return this.#running.size;
  }

  run(eventId: number, cmdline: number[], environment: Array<[number[], number[]]>): void {
    const program = fromByteArray(cmdline).toString('utf8');
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of environment) env[fromByteArray(k).toString('utf8')] = fromByteArray(v).toString('utf8');
    this.log.info(`command ${eventId}: starting ${JSON.stringify(program)}`);
    let child: ChildProcess;
    try {
      child = spawn(program, [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    } catch (e) {
      // spawn throws synchronously for e.g. an empty program name or NUL bytes
      this.#startFailed(eventId, (e as Error).message);
      return;
    }
    const streams = [child.stdout!, child.stderr!];
    const entry: Running = { child, streams, killed: false };
    let started = false;
    child.once('spawn', () => {
      started = true;
      this.#running.set(eventId, entry);
      if (this.#paused) for (const s of streams) s.pause();
    });
    child.once('error', (err) => {
      if (!started) this.#startFailed(eventId, err.message);
      else this.log.warn(`command ${eventId}: ${err.message}`);
    });
    this.#pipe(eventId, child.stdout!, 'stdout');
    this.#pipe(eventId, child.stderr!, 'stderr');
    child.once('close', (code, signal) => {
      if (!started) return;
      this.#running.delete(eventId);
      this.log.info(
        `command ${eventId}: ${signal ? `killed by ${signal}` : `exited with code ${code}`}${entry.killed ? ' (killcommand)' : ''}`,
      );
      this.#send(
        {
          type: 'runcommandexitcode',
          supervisor_event_id: eventId,
          exit_code: signal ? null : code,
          killed: entry.killed,
        },
        'exit code',
      );
    });
  }

  kill(eventId: number): void {
    const entry = this.#running.get(eventId);
    if (!entry) {
      this.log.warn(`killcommand for unknown or finished command ${eventId}`);
      return;
    }
    entry.killed = true;
    this.log.info(`command ${eventId}: killing its process group`);
    try {
      process.kill(-entry.child.pid!, 'SIGKILL');
    } catch (e) {
      this.log.warn(`command ${eventId}: kill failed: ${(e as Error).message}`);
    }
  }

  killAll(): void {
    for (const id of this.#running.keys()) this.kill(id);
  }

  #pipe(eventId: number, stream: Readable, name: OutputStream): void {
    stream.on('data', (chunk: Buffer) => {
      if (!this.conn.sendOutput(eventId, name, chunk)) this.#pause();
    });
  }

  // Backpressure is shared: when the one socket to the supervisor is full, every producer waits.
  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    for (const r of this.#running.values()) for (const s of r.streams) s.pause();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const r of this.#running.values()) for (const s of r.streams) s.resume();
  }

  #startFailed(eventId: number, message: string): void {
    this.log.warn(`command ${eventId}: could not start: ${message}`);
    this.#send({ type: 'runcommanderror', supervisor_event_id: eventId, error: message }, 'error');
  }

  // sendEvent throws when it refuses an event outright and rejects when it gives one up later
  #send(event: Extract<PuppetEvent, { supervisor_event_id: number }>, what: string): void {
    const notDelivered = (e: Error) =>
      this.log.warn(`command ${event.supervisor_event_id}: ${what} not delivered: ${e.message}`);
    try {
      this.conn.sendEvent(event).catch(notDelivered);
    } catch (e) {
      notDelivered(e as Error);
    }
  }
}
