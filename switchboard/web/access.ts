// Who may see and do what: the REST API's rules (a user sees and acts on their own jobs, an
// admin on all), in one place for every page and action of the web console.

import type { JobDetail, JobSummary, WebUser } from './data.js';

export function maySee(user: WebUser, job: JobSummary): boolean {
  return user.isAdmin || job.owner.id === user.id;
}

export function mayCancel(user: WebUser, job: JobSummary): boolean {
  return maySee(user, job) && job.state !== 'terminated';
}

/**
 * Running a job again makes a new job of the person who asks, with the same request. An admin
 * may not do that with another user's job that has secret parameters: the new job would carry
 * that user's secrets into a job the admin owns.
 */
export function mayRunAgain(user: WebUser, job: JobDetail): boolean {
  if (job.owner.id === user.id) return true;
  return user.isAdmin && !job.parameters.some((p) => p.secret);
}

/** Whose jobs a user's lists show: their own, or everyone's (null) for an admin. */
export function ownerScope(user: WebUser): string | null {
  return user.isAdmin ? null : user.id;
}
