/** Public surface of the image store library (the supervisor reads manifests and checks blobs with it). */
export { DownloadError, ImageToolError, QemuImgMissingError } from './errors.js';
export { parseManifest, serializeManifest, validateManifest } from './manifest.js';
export type { BlobSpec, Manifest } from './manifest.js';
export { blobPath, blobRelPath, imagePath, imageRelPath, DIGEST_RE } from './paths.js';
export { listImageIds, readManifest, readManifestBytes, resolveImageId, summarize } from './store.js';
export type { ImageSummary } from './store.js';
export { createImage, storeManifest } from './create.js';
export type { CreateInput, WriteOptions } from './create.js';
export { addBlob } from './blob-writer.js';
export { hashFile, sha256Hex } from './digest.js';
export { FINDING_KINDS, verifyImage, verifyStore } from './verify.js';
export type { Finding, FindingKind, VerifyOptions, VerifyReport } from './verify.js';
export { storedBlobIsSound } from './blob-cache.js';
export { listIndexEntries, writeIndex } from './all-txt.js';
export { copyImages } from './copy.js';
export type { CopyResult } from './copy.js';
export { collectGarbage } from './gc.js';
export type { GcResult, GcRemoval } from './gc.js';
export { removeImages } from './remove.js';
export type { RemoveResult } from './remove.js';
export { layerImage, layeredManifest } from './layer.js';
// The key names live in protocol/image-manifest.ts; these names are kept for callers outside imagetool/.
export {
  COMPRESSION_ATTR,
  NBD_LAYERED_ATTR as NBD_ATTR,
  QEMU_LAYERED_ATTR as QEMU_ATTR,
} from '../protocol/image-manifest.js';
export type { LayerInput } from './layer.js';
export {
  assertImageChain,
  checkImageChain,
  layeredScheme,
  NBD_SCHEME,
  parseQemuImgInfo,
  QEMU_SCHEME,
  topBlobName,
} from './chain.js';
export type { ChainOptions, ChainProblem, LayeredScheme, QemuImgInfo } from './chain.js';
export { addDirBlob, listTree, parseSourceDateEpoch } from './tar-dir.js';
export type { Compression, DirBlobOptions, TreeEntry } from './tar-dir.js';
export { readSpec, parseSpec } from './spec-file.js';
export { DEFAULT_PULL_JOBS, pullImages, SharedDownloads } from './pull.js';
export type { PullOptions, PullPlan, PullResult } from './pull.js';
export { DEFAULT_RETRY } from './download.js';
export type { RetryPolicy } from './download.js';
export { parseMirrorUrl } from './http.js';
