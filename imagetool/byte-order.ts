// The one order of names in a store, its manifests and its listings: by UTF-8 bytes, as
// `LC_ALL=C sort` orders them, the same on every machine whatever its locale.

/** Compares `a` and `b` by their UTF-8 bytes. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
