// The failures of `tml` that are its own. Usage errors and custom exit codes are protocol/cli.ts's
// UsageError and ExitWith; these are the ways a request to the switchboard can fail.

/** The switchboard answered with an error status; `type` is the answer's tag when it had one. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly type: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** The switchboard could not be reached, did not answer in time, or broke the connection. */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

/** The switchboard answered 2xx with a body that is not what the API says. */
export class BadAnswerError extends Error {
  override name = 'BadAnswerError';
}

/** The switchboard has no console log route (an upstream one): an unknown route, not an unknown job. */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.type !== 'invalid';
}

/** One line for a refused request, by the answer's type (or, from upstream, its status). */
export function describeApiError(err: ApiError): string {
  const what: Record<string, string> = {
    unauthenticated: 'not authorized (check TML_API_TOKEN or run tml login)',
    unauthorized: 'forbidden',
    invalid: 'not found',
    not_found: 'not found',
    bad_request: 'refused',
  };
  const byStatus: Record<number, string> = { 401: what.unauthenticated!, 403: 'forbidden', 404: 'not found' };
  const label = (err.type !== null ? what[err.type] : undefined) ?? byStatus[err.status];
  return `${label ?? `switchboard error ${err.status}`}: ${err.message}`;
}

/** Plain words for the network failures a user meets, with the code for a bug report. */
const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EPIPE: 'the connection was closed',
  CONNECT_TIMEOUT: 'no connection',
  HEADERS_TIMEOUT: 'no answer',
  BODY_TIMEOUT: 'the answer stopped',
};

/** The code of a network error, or of its `cause` when it wraps the system's. */
export function networkCode(err: unknown): string | null {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : null;
}

export function describeNetworkError(err: unknown): string {
  const code = networkCode(err);
  if (code !== null) return NETWORK_WORDS[code] ? `${NETWORK_WORDS[code]} (${code})` : code;
  const e = err as { cause?: { message?: unknown }; message?: unknown } | null;
  const message = e?.cause?.message ?? e?.message;
  return typeof message === 'string' && message !== '' ? message : String(err);
}
