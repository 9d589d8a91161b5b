// Every key an image manifest holds and every image or blob attribute a component reads or writes,
// with the format's limits: the one place these names are spelled (docs/image-store.md). imagetool
// writes and checks manifests with them, the supervisor's hosts read them before booting.

/** The base extension every manifest lists; its keys below carry it as a prefix. */
export const BASE_EXT = 'org.tockos.treadmill.manifest-ext.base';

/** Manifest keys as upstream Treadmill names them (docs/image-store.md, "Manifest"). */
export const MANIFEST_KEY = {
  version: 'manifest_version',
  extensions: 'manifest_extensions',
  label: `${BASE_EXT}.label`,
  revision: `${BASE_EXT}.revision`,
  description: `${BASE_EXT}.description`,
  /** a table of attributes, in the manifest's top level and in each blob spec */
  attrs: `${BASE_EXT}.attrs`,
  blobs: `${BASE_EXT}.blobs`,
  /** blob spec keys */
  digest: `${BASE_EXT}.sha256-digest`,
  size: `${BASE_EXT}.size`,
} as const;

/** The only manifest_version there is. */
export const MANIFEST_VERSION = 0;

export const MANIFEST_LIMITS = {
  labelBytes: 64,
  descriptionBytes: 64 * 1024,
  blobs: 4096,
  attrNameBytes: 64,
  attrValueBytes: 64 * 1024,
} as const;

export const BLOB_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** The attributes of a layered qcow2 scheme: the image's `.head`, each blob's `.lower` and size. */
export interface LayeredAttrs {
  head: string;
  lower: string;
  virtualSize: string;
}

const layered = (ns: string): LayeredAttrs => ({
  head: `${ns}.head`,
  lower: `${ns}.lower`,
  virtualSize: `${ns}.blob-virtual-size`,
});

/** QEMU VMs: `.head` names the top qcow2 blob (docs/image-store.md, "Layered disk images"). */
export const QEMU_LAYERED_ATTR = layered('org.tockos.treadmill.image.qemu_layered_v0');

/** Raspberry Pi netboot: `.head` is a layer label; blobs `<head>-root` (qcow2) and `<head>-boot` (tar). */
export const NBD_LAYERED_ATTR = layered('org.tockos.treadmill.image.nbd_qcow2_layered_v0');

/**
 * Attribute names upstream itself defines that break its own 64-byte limit (its readers never check
 * the limits): without this exception no netboot image could be written, or read from an upstream store.
 */
export const OVERLONG_UPSTREAM_ATTR_NAMES: ReadonlySet<string> = new Set([NBD_LAYERED_ATTR.virtualSize]);

/** The `local` host: the image attribute naming the blob that is the boot script. */
export const LOCAL_ENTRYPOINT_ATTR = 'org.tockos.treadmill.image.local_v0.entrypoint';

/** Our extension for the QEMU host: an image may name a kernel (and initramfs, command line) to boot directly. */
const DIRECT = 'org.tockos.treadmill.image.qemu_direct_boot_v0';
export const DIRECT_BOOT_ATTR = {
  kernel: `${DIRECT}.kernel`,
  initrd: `${DIRECT}.initrd`,
  cmdline: `${DIRECT}.cmdline`,
} as const;

/** Our extension, a blob attribute: the tar of a directory blob is compressed (value `zstd`). */
export const COMPRESSION_ATTR = 'org.tockos.treadmill.imagetool.compression';
