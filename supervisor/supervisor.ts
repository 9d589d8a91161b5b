// Wires a supervisor together: the switchboard link, the job runner, a host backend and the image store.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostBackend } from './hosts/host.js';
import { ImageFetcher, parseImageMirrors } from './image-fetch.js';
import { loadVerifiedImage } from './image-loader.js';
import { SshAccessReporter, SUPERVISOR_EXTENSIONS } from './interactive.js';
import { JobRunner } from './job-runner.js';
import { claimJobDir, removeLeftovers } from './leftovers.js';
import type { Logger } from '../protocol/log.js';
import { connectUrl, SwitchboardConnection } from './switchboard-connection.js';

/** Console output beyond this much unsent data waits, so a chatty job cannot fill the supervisor's memory. */
const CONSOLE_BACKLOG_LIMIT = 8 * 1024 * 1024;
const JOB_DIR_PREFIX = 'job-';

export interface SupervisorOptions {
  /** One base URL, or several (replicas of one switchboard) tried in turn. */
  switchboardUrl: string | readonly string[];
  supervisorId: string;
  token: string;
  storeDir: string;
  host: HostBackend;
  /** Job directories are created here; default: a temporary directory removed on close. */
  workDir?: string;
  log: Logger;
  /** Called when the switchboard (every URL of it) refuses this supervisor for good (wrong id or token). */
  onFatal?: (err: Error) => void;
  /** Mirrors to pull missing images from, tried in order (`--image-mirror`; see parseImageMirrors). */
  imageMirrors?: string[];
}

export interface Supervisor {
  readonly runner: JobRunner;
  readonly connection: SwitchboardConnection;
  /** Ends a running job, closes the connection, removes the temporary work directory. */
  close(): Promise<void>;
}

export async function startSupervisor(opts: SupervisorOptions): Promise<Supervisor> {
  // A bad URL is reported before anything is created on disk.
  for (const url of typeof opts.switchboardUrl === 'string' ? [opts.switchboardUrl] : opts.switchboardUrl) {
    connectUrl(url, opts.supervisorId);
  }
  const mirrors = parseImageMirrors(opts.imageMirrors ?? []);
  let workDir: string;
  let ownWorkDir = false;
  if (opts.workDir !== undefined) {
    await mkdir(opts.workDir, { recursive: true, mode: 0o700 });
    workDir = opts.workDir;
    // Before the switchboard hears `idle`: a job an earlier run left behind is not running.
    const left = await removeLeftovers(workDir, (name) => name.startsWith(JOB_DIR_PREFIX));
    if (left.removed.length > 0) {
      opts.log.info(
        `removed ${left.removed.length} job director${left.removed.length > 1 ? 'ies' : 'y'} left by an earlier run in ${workDir} (killed ${left.killedGroups} process group${left.killedGroups === 1 ? '' : 's'})`,
      );
    }
  } else {
    workDir = await mkdtemp(join(tmpdir(), 'tml-supervisor-'));
    ownWorkDir = true;
  }

  const fetcher =
    mirrors.length > 0 ? new ImageFetcher({ storeDir: opts.storeDir, mirrors, log: opts.log }) : undefined;
  let connection: SwitchboardConnection | null = null;
  const sshAccess = new SshAccessReporter((msg) => connection!.sendExtension(msg));
  const runner = new JobRunner({
    send: (jobId, event) =>
      connection!.send({ type: 'supervisor_event', message: { type: 'job_event', job_id: jobId, event } }),
    loadImage: (imageId, onStatus) => loadVerifiedImage(opts.storeDir, imageId, { fetcher, onStatus }),
    allocateJobDir: async (jobId) => {
      const dir = await mkdtemp(join(workDir, `${JOB_DIR_PREFIX}${jobId.slice(0, 8)}-`));
      await claimJobDir(dir);
      return dir;
    },
    releaseJobDir: (dir) => rm(dir, { recursive: true, force: true }),
    host: opts.host,
    storeDir: opts.storeDir,
    log: opts.log,
    congested: () => connection!.backlogBytes > CONSOLE_BACKLOG_LIMIT,
    onSshAccess: (jobId, info) => sshAccess.update(jobId, info),
  });
  connection = new SwitchboardConnection({
    url: opts.switchboardUrl,
    supervisorId: opts.supervisorId,
    token: opts.token,
    log: opts.log,
    extensions: SUPERVISOR_EXTENSIONS,
    handlers: {
      status: () => runner.status(),
      startJob: (msg) => runner.start(msg),
      stopJob: (jobId) => runner.stop(jobId),
      rejectStart: (jobId, message) => runner.rejectStart(jobId, message),
      consoleInput: (jobId, data) => runner.consoleInput(jobId, data),
    },
  });
  connection.on('connected', () => sshAccess.resend());
  connection.on('fatal', (err: Error) => {
    if (opts.onFatal !== undefined) opts.onFatal(err);
    else opts.log.error(err.message);
  });
  connection.start();

  let closing: Promise<void> | null = null;
  return {
    runner,
    connection,
    close() {
      closing ??= (async () => {
        fetcher?.close();
        await runner.shutdown();
        await connection.close();
        if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
