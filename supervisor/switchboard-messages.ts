// What the switchboard sends on the supervisor WebSocket is parsed here once, with the shared
// validator of switchboard/api.ts; the rest of the supervisor only sees well-typed ToSupervisor values.
// A start_job that fails validation but names a valid job id is reported with that id, so the job can
// be failed at once instead of waiting for its timeout.

import { isUuid, parseToSupervisor as parseShared, ValidationError, type ToSupervisor } from '../switchboard/api.js';

export type ParseResult =
  | { ok: true; message: ToSupervisor }
  | { ok: false; error: string; jobId?: string };

function startJobId(text: string): string | undefined {
  try {
    const raw = JSON.parse(text) as { type?: unknown; message?: { job_id?: unknown } };
    const jobId = raw.message?.job_id;
    return raw.type === 'start_job' && isUuid(jobId) ? jobId : undefined;
  } catch {
    return undefined;
  }
}

export function parseToSupervisor(text: string): ParseResult {
  try {
    return { ok: true, message: parseShared(text) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const failed: ParseResult = { ok: false, error: err.message };
    const jobId = startJobId(text);
    if (jobId !== undefined) failed.jobId = jobId;
    return failed;
  }
}
