// `POST /api/v1/jobs/:id/console` (our extension, docs/switchboard.md "Console input"): bytes typed by
// the job's owner (or an admin) for its host's console input. Registered in the API's scope, so the
// bearer-token hook has set `req.user` and bad bodies get the API's error answers.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseConsoleInputRequest, type ConsoleInputAnswer } from '../protocol/console-input-api.js';
import { API_PREFIX, ERROR_STATUS, type ApiErrorType } from '../protocol/switchboard-api.js';
import { isUuid } from '../protocol/validation.js';
import type { InteractiveJobs, JobView } from './interactive.js';

export interface ConsoleInputRouteDeps {
  jobs: { get(id: string): Promise<JobView | undefined> };
  interactive: InteractiveJobs;
}

/** A request of 4096 bytes in base64 with its JSON wrapping fits well within this. */
const BODY_LIMIT = 8 * 1024;

function refuse(reply: FastifyReply, type: ApiErrorType, message: string): FastifyReply {
  return reply.status(ERROR_STATUS[type]).send({ type, message });
}

export function registerConsoleInputRoute(app: FastifyInstance, deps: ConsoleInputRouteDeps): void {
  app.post<{ Params: { id: string } }>(
    `${API_PREFIX}/jobs/:id/console`,
    { bodyLimit: BODY_LIMIT },
    async (req, reply): Promise<ConsoleInputAnswer | FastifyReply> => {
      const id = req.params.id;
      const job = isUuid(id) ? await deps.jobs.get(id) : undefined;
      const user = req.user;
      // As the other job routes: a job of another user is "not found", not "forbidden".
      if (!job || !user || (job.owner_id !== user.id && user.is_admin !== 1)) {
        return refuse(reply, 'invalid', `no job ${id.slice(0, 64)} visible to you`);
      }
      const bytes = parseConsoleInputRequest(req.body);
      const r = deps.interactive.consoleInput(job, bytes);
      if (!r.ok) return refuse(reply, 'bad_request', r.message);
      return { type: 'ok', bytes: bytes.length };
    },
  );
}
