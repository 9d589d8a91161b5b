// What a supervisor that died (kill -9, a crash, a power cut) leaves in its job directories, and
// how the next one clears it before taking jobs: each job directory names its owner (the pid of the
// supervisor that made it) and the process groups its host started; at start, directories whose
// owner is gone have those groups killed and are removed, secret parameter files with them. The
// local host and the QEMU host share it.

import { appendFileSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const OWNER_FILE = 'supervisor.pid';
export const PROCESS_GROUPS_FILE = 'process-groups';

/**
 * When a process started, in clock ticks since boot (/proc/PID/stat, field 22), or null if there is
 * no such process. With the pid it names one process: a pid can be reused, the pair cannot.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the parenthesised command name (which may hold spaces and ')').
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** `pid start-time`: one process, as the files here name them. */
function processRecord(pid: number): string {
  return `${pid} ${processStartTime(pid) ?? '?'}`;
}

/** Whether the process a record names still runs: same pid and, when the record has one, same start. */
function recordAlive(pid: number, start: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = processStartTime(pid);
  if (now === null) return pidExists(pid);
  return start === undefined || start === '?' || start === now;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks a job directory as this supervisor's. */
export async function claimJobDir(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), `${processRecord(process.pid)}\n`);
}

/**
 * Records a process group the host just started in its job directory. Synchronous, so that the
 * record exists before anything else can happen (such as the supervisor being killed).
 */
export function recordProcessGroup(dir: string, pgid: number): void {
  appendFileSync(join(dir, PROCESS_GROUPS_FILE), `${processRecord(pgid)}\n`);
}

/**
 * SIGKILLs the recorded process groups that are still those groups. A group outlives its leader
 * (its id stays reserved while members remain), so a group whose leader is gone is still killed;
 * one whose id is now a different process's (another start time) is not. Returns how many were
 * signalled.
 */
function killRecordedGroups(text: string): number {
  let killed = 0;
  for (const line of text.split('\n')) {
    const [id, start] = line.trim().split(' ');
    const pgid = Number(id);
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    const now = processStartTime(pgid);
    if (now !== null && start !== undefined && start !== '?' && now !== start) continue;
    try {
      process.kill(-pgid, 'SIGKILL');
      killed++;
    } catch {
      // ESRCH: the whole group is gone already.
    }
  }
  return killed;
}

export interface Leftovers {
  /** Names of the directories removed. */
  removed: string[];
  /** Process groups that were still running and were killed. */
  killedGroups: number;
}

/**
 * Clears what earlier supervisors left under `parent`: every directory whose owner is not a running
 * supervisor (a dead one, or none recorded) has its recorded process groups killed and is removed.
 * A directory of another live supervisor is left alone.
 */
export async function removeLeftovers(
  parent: string,
  isJobDir: (name: string) => boolean = () => true,
): Promise<Leftovers> {
  const result: Leftovers = { removed: [], killedGroups: 0 };
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return result;
  }
  for (const name of names.filter(isJobDir)) {
    const dir = join(parent, name);
    const [pid, start] = (await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim().split(' ');
    const owner = Number(pid);
    if (owner !== process.pid && recordAlive(owner, start)) continue;
    const groups = await readFile(join(dir, PROCESS_GROUPS_FILE), 'utf8').catch(() => '');
    result.killedGroups += killRecordedGroups(groups);
    await rm(dir, { recursive: true, force: true });
    result.removed.push(name);
  }
  return result;
}

/** removeLeftovers, for callers that only need the names. */
export async function removeLeftoverJobDirs(parent: string): Promise<string[]> {
  return (await removeLeftovers(parent)).removed;
}
