/** A failure the user can act on; its message is one line, printed as `tml-imagetool: <message>`. */
export class ImageToolError extends Error {
  override name = 'ImageToolError';
}

/** qemu-img itself cannot be run: a qcow2 chain cannot be judged at all. */
export class QemuImgMissingError extends ImageToolError {}

/** A verdict about a file a pull wanted (not found, wrong bytes, Range ignored): retrying would not help. */
export class DownloadError extends ImageToolError {
  constructor(rel: string, url: URL, reason: string) {
    super(`${rel} from ${url.href}: ${reason}`);
  }
}

/** Wraps a Node system error (ENOENT, EACCES, ...) into a one-line message naming the path. */
export function describeFsError(err: unknown, action: string, path: string): ImageToolError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'ENOTDIR'
            ? 'not a directory'
            : code === 'EEXIST'
              ? 'a file of that name is in the way'
              : code === 'ENOSPC'
                ? 'no space left on device'
                : err instanceof Error
                  ? err.message
                  : String(err);
  return new ImageToolError(`cannot ${action} ${path}: ${reason}`);
}
