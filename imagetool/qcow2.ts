/** The fields of a qcow2 header (QEMU docs/interop/qcow2.txt) that layering needs. */
export interface Qcow2Header {
  virtualSize: number;
}

const MAGIC = 0x514649fb; // "QFI\xfb"

/** Parses the first 32 bytes of a file; null when they are not a qcow2 header. */
export function parseQcow2Header(head: Uint8Array): Qcow2Header | null {
  if (head.length < 32) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0) !== MAGIC) return null;
  const size = view.getBigUint64(24);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { virtualSize: Number(size) };
}
