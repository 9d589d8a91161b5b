// A switchboard and a local supervisor on this machine, in one temporary directory, driven through
// the real CLIs. The demo and the end-to-end tests build on it; close() leaves nothing behind.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliPath, CommandError, runCli, Service, type RunResult } from './child-processes.js';

/** Every exit code, for commands whose failure is an answer (`tml job wait`). */
export const ANY_EXIT_CODE = Array.from({ length: 256 }, (_, i) => i);

/** The caller's environment without Treadmill settings that would redirect the commands. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TML_')) env[k] = v;
  return env;
}

export class LocalCluster {
  readonly store: string;
  readonly db: string;
  private readonly env = cleanEnv();
  private readonly services: Service[] = [];
  private apiToken = '';
  private supervisorCredentials: { id: string; token: string } | null = null;
  url = '';

  private constructor(
    readonly dir: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.store = join(dir, 'store');
    this.db = join(dir, 'switchboard.db');
    // Aborting stops the services, which makes whatever waits on them fail, which runs close().
    signal?.addEventListener('abort', () => void this.stopServices(), { once: true });
  }

  static async create(opts: { prefix: string; signal?: AbortSignal }): Promise<LocalCluster> {
    return new LocalCluster(await mkdtemp(join(tmpdir(), opts.prefix)), opts.signal);
  }

  get supervisorId(): string {
    return this.supervisorCredentials?.id ?? '';
  }

  private run(cli: string, args: string[], okCodes?: number[], env = this.env): Promise<RunResult> {
    return runCli(cliPath(cli), args, { env, okCodes, signal: this.signal });
  }

  /** `tml-imagetool build SPEC --store STORE`; returns the image id. */
  async buildImage(spec: string): Promise<string> {
    const { stdout } = await this.run('imagetool/cli.js', ['build', spec, '--store', this.store]);
    const imageId = stdout.trim();
    if (!/^[0-9a-f]{64}$/.test(imageId))
      throw new CommandError(`tml-imagetool build printed no image id: ${JSON.stringify(stdout)}`);
    return imageId;
  }

  /** An admin user with an API token, and one supervisor with these tags, in a fresh database. */
  async prepareDatabase(user: string, supervisorName: string, tags: string): Promise<void> {
    await this.run('switchboard/cli.js', ['user', 'add', user, '--db', this.db, '--admin']);
    this.apiToken = (
      await this.run('switchboard/cli.js', ['token', 'create', '--db', this.db, '--user', user])
    ).stdout.trim();
    const added = await this.run('switchboard/cli.js', [
      'supervisor',
      'add',
      supervisorName,
      '--db',
      this.db,
      '--tags',
      tags,
      '--json',
    ]);
    this.supervisorCredentials = JSON.parse(added.stdout) as { id: string; token: string };
  }

  private track(service: Service): Service {
    this.services.push(service);
    this.signal?.throwIfAborted();
    return service;
  }

  private switchboard: Service | null = null;

  /**
   * `tml-switchboard serve`; returns its URL once it listens. The first start picks a free port; a
   * restart listens on the same one, so the supervisor finds it again.
   */
  async startSwitchboard(): Promise<string> {
    const listen = this.url === '' ? '127.0.0.1:0' : new URL(this.url).host;
    const sb = this.track(
      new Service(
        'tml-switchboard',
        cliPath('switchboard/cli.js'),
        ['serve', '--listen', listen, '--db', this.db],
        this.env,
      ),
    );
    this.switchboard = sb;
    this.url = (await sb.waitForLine(/listening on (http:\/\/\S+)/, 15_000))[1]!;
    return this.url;
  }

  /** SIGKILLs the switchboard, as a crash would. */
  async crashSwitchboard(): Promise<void> {
    await this.switchboard?.kill();
  }

  /** `tml-supervisor --host local` (or another host with its flags), its token in the environment. */
  startSupervisor(opts: { puppet?: string; logLevel?: string; host?: string; hostArgs?: string[] } = {}): Service {
    const creds = this.supervisorCredentials;
    if (creds === null || this.url === '') throw new Error('prepareDatabase and startSwitchboard come first');
    const args = [
      '--switchboard',
      this.url,
      '--id',
      creds.id,
      '--store',
      this.store,
      '--host',
      opts.host ?? 'local',
      '--work-dir',
      join(this.dir, 'work'),
      ...(opts.hostArgs ?? []),
    ];
    if (opts.puppet !== undefined) args.push('--puppet', opts.puppet);
    if (opts.logLevel !== undefined) args.push('--log-level', opts.logLevel);
    return this.track(
      new Service('tml-supervisor', cliPath('supervisor/cli.js'), args, {
        ...this.env,
        TML_SUPERVISOR_TOKEN: creds.token,
      }),
    );
  }

  /** The `tml` client with this cluster's URL and API token. */
  tml(args: string[], okCodes?: number[]): Promise<RunResult> {
    return this.run('tml/cli.js', args, okCodes, {
      ...this.env,
      TML_API_TOKEN: this.apiToken,
      TML_SWITCHBOARD_URL: this.url,
    });
  }

  /** The services' own output (stdout and stderr), by name. */
  serviceLogs(): Record<string, string> {
    const logs: Record<string, string> = {};
    for (const s of this.services) logs[s.name] = (logs[s.name] ?? '') + s.stdout + s.stderr;
    return logs;
  }

  /** Stops the services, the most recently started first. */
  async stopServices(): Promise<void> {
    for (const s of [...this.services].reverse()) await s.stop();
  }

  async close(): Promise<void> {
    await this.stopServices();
    await rm(this.dir, { recursive: true, force: true });
  }
}
