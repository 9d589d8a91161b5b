import { ImageToolError } from './errors.js';

/** Mirror URLs, apart from the HTTP client so that checking one does not load it. */

/** A mirror's base URL, checked once: http(s) only, and ending in '/' so store paths resolve below it. */
export function parseMirrorUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ImageToolError(`${JSON.stringify(text)} is not a URL (expected http://HOST/PATH or https://...)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ImageToolError(`mirror ${text}: only http:// and https:// are supported`);
  if (url.search !== '' || url.hash !== '') throw new ImageToolError(`mirror ${text}: no query or fragment, please`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** The URL of a store-relative path on a mirror. */
export function mirrorFileUrl(mirror: URL, rel: string): URL {
  return new URL(rel, mirror);
}
