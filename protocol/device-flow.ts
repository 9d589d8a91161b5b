// Device login (the OAuth 2.0 device authorization grant, RFC 8628) against the switchboard:
// `tml login --device` asks for a code, the user approves it on the web console, the client polls
// for its token. Field names and error codes are the RFC's, so generic device-flow clients work
// too; docs/switchboard.md ("Device login") describes the endpoints.

import { ValidationError, attempt, expectObject, expectString, isObject, oneOf } from './validation.js';

export const DEVICE_CODE_PATH = '/api/v1/device/code';
export const DEVICE_TOKEN_PATH = '/api/v1/device/token';
/** The web console's page where a user enters or confirms a code. */
export const DEVICE_PAGE_PATH = '/device';
export const DEVICE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/** What a client calls itself, shown to the user who approves; at most this many characters. */
export const MAX_CLIENT_ID_LENGTH = 100;

/** `POST /api/v1/device/code` (RFC 8628 §3.1). */
export interface DeviceCodeRequest {
  client_id: string;
}

/** Its answer (RFC 8628 §3.2); times in seconds. */
export interface DeviceCodeResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/** `POST /api/v1/device/token` (RFC 8628 §3.4). */
export interface DeviceTokenRequest {
  grant_type: typeof DEVICE_GRANT_TYPE;
  device_code: string;
  client_id: string;
}

/** A granted token (RFC 6749 §5.1), plus `expires_at` and `user` for the session file. */
export interface DeviceTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  expires_at: string;
  user: string;
}

/** Error codes of both endpoints (RFC 8628 §3.5, RFC 6749 §5.2), with their statuses. */
export const DEVICE_ERROR_STATUS = {
  /** The user has not approved (or denied) the code yet: poll again after `interval`. */
  authorization_pending: 400,
  /** Polling faster than `interval`: wait 5 s longer between polls from now on. */
  slow_down: 400,
  /** The user denied the request. */
  access_denied: 400,
  /** The code expired before it was approved: start again. */
  expired_token: 400,
  /** No such device code, or its token was already handed out (a code is good for one token). */
  invalid_grant: 400,
  /** A malformed body. */
  invalid_request: 400,
  unsupported_grant_type: 400,
  /** Too many codes asked for from this address: see Retry-After. */
  too_many_requests: 429,
  /** A failure inside the switchboard (logged there). */
  server_error: 500,
} as const;
export type DeviceErrorCode = keyof typeof DEVICE_ERROR_STATUS;
export const DEVICE_ERROR_CODES = Object.keys(DEVICE_ERROR_STATUS) as DeviceErrorCode[];

export interface DeviceErrorBody {
  error: DeviceErrorCode;
  error_description: string;
}

// A form body arrives with every field a string; a JSON one may hold anything.
function field(obj: Record<string, unknown>, key: string, where: string): string {
  const v = expectString(obj[key], `${where}.${key}`);
  if (v.length > 1000) throw new ValidationError(`${where}.${key} is longer than 1000 characters`);
  return v;
}

function clientId(obj: Record<string, unknown>, where: string): string {
  const id = field(obj, 'client_id', where);
  if (id.length === 0 || id.length > MAX_CLIENT_ID_LENGTH || /[\p{Cc}\p{Cf}]/u.test(id)) {
    throw new ValidationError(
      `${where}.client_id must be 1 to ${MAX_CLIENT_ID_LENGTH} characters without control characters`,
    );
  }
  return id;
}

export function parseDeviceCodeRequest(value: unknown): DeviceCodeRequest {
  const obj = expectObject(value ?? {}, 'device code request');
  return { client_id: clientId(obj, 'device code request') };
}

export function parseDeviceTokenRequest(value: unknown): DeviceTokenRequest {
  const obj = expectObject(value, 'device token request');
  const grant = field(obj, 'grant_type', 'device token request');
  if (grant !== DEVICE_GRANT_TYPE) {
    throw new UnsupportedGrantError(`grant_type must be ${DEVICE_GRANT_TYPE}`);
  }
  return {
    grant_type: DEVICE_GRANT_TYPE,
    device_code: field(obj, 'device_code', 'device token request'),
    client_id: clientId(obj, 'device token request'),
  };
}

/** A token request of another grant type (RFC 6749's `unsupported_grant_type`). */
export class UnsupportedGrantError extends ValidationError {
  override name = 'UnsupportedGrantError';
}

function positiveInteger(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`${where} must be a positive integer`);
  }
  return value;
}

export function parseDeviceCodeResponse(value: unknown): DeviceCodeResponse {
  const obj = expectObject(value, 'device code answer');
  const w = 'device code answer';
  return {
    device_code: field(obj, 'device_code', w),
    user_code: field(obj, 'user_code', w),
    verification_uri: field(obj, 'verification_uri', w),
    verification_uri_complete: field(obj, 'verification_uri_complete', w),
    expires_in: positiveInteger(obj.expires_in, `${w}.expires_in`),
    // RFC 8628 §3.2: absent means 5 seconds.
    interval: obj.interval === undefined ? 5 : positiveInteger(obj.interval, `${w}.interval`),
  };
}

export function parseDeviceTokenResponse(value: unknown): DeviceTokenResponse {
  const obj = expectObject(value, 'device token answer');
  const w = 'device token answer';
  if (obj.token_type !== 'Bearer') throw new ValidationError(`${w}.token_type must be "Bearer"`);
  const expires_at = field(obj, 'expires_at', w);
  if (Number.isNaN(Date.parse(expires_at))) throw new ValidationError(`${w}.expires_at must be an RFC 3339 time`);
  return {
    access_token: field(obj, 'access_token', w),
    token_type: 'Bearer',
    expires_in: positiveInteger(obj.expires_in, `${w}.expires_in`),
    expires_at,
    user: field(obj, 'user', w),
  };
}

/** The error code of a device-flow error answer, or null when the body is not one. */
export function deviceErrorOf(value: unknown): DeviceErrorBody | null {
  if (!isObject(value)) return null;
  const code = attempt(() => oneOf(value.error, DEVICE_ERROR_CODES, 'error'));
  if (!code.ok) return null;
  return {
    error: code.value,
    error_description: typeof value.error_description === 'string' ? value.error_description : '',
  };
}

// -- user codes (RFC 8628 §6.1): 8 letters without vowels, shown as XXXX-XXXX --

export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE_LENGTH = 8;

/** The code as typed (any case, dashes and spaces anywhere) in its canonical XXXX-XXXX form, or null. */
export function normalizeUserCode(typed: string): string | null {
  if (typed.length > 64) return null;
  const letters = typed.toUpperCase().replace(/[\s-]/g, '');
  if (letters.length !== USER_CODE_LENGTH) return null;
  for (const c of letters) if (!USER_CODE_ALPHABET.includes(c)) return null;
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}
