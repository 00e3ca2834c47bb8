// One validator per hull.v1.ImageService request (ImportImage: its first
// message, the source). The reference grammar itself is src/domain/reference.ts.
import { posix } from "node:path";
import type { ImportImageSource, InspectImageRequest, ListImagesRequest, PullImageRequest, RemoveImageRequest } from "../gen/hull/v1/image.js";
import { invalidArgument } from "../errors.js";
import { rejectUndecodable } from "./wire.js";
import { normalizeReference, parseImageName } from "../domain/reference.js";
import { MAX_IMAGE_REF_LENGTH, MAX_TEXT_BYTES, checkAbsolutePath, checkImageRef, checkText, shown } from "./rules.js";

/** Largest streamed import accepted (spooled to disk first). */
export const MAX_IMPORT_BYTES = 16 * 1024 * 1024 * 1024;
/** /proc, /sys and /dev hold no images, and reading some of their files fails or never ends. */
const PSEUDO_FS = /^\/(proc|sys|dev)(\/|$)/;
const IMPORT_FORMATS: ReadonlySet<string> = new Set(["", "oci-layout", "rootfs-tar"]);

/** ImportImage's first message: a host path or announced bytes, an optional tag, a known format. */
export function validateImportSource(src: ImportImageSource, prefix = "source"): void {
  rejectUndecodable(src);
  if (src.path !== "") {
    checkAbsolutePath(`${prefix}.path`, src.path);
    if (PSEUDO_FS.test(posix.normalize(src.path)))
      throw invalidArgument(`${prefix}.path`, `${shown(src.path)} is in a kernel pseudo-file system, not an image`);
  }
  if (src.reference !== "") normalizeReference(src.reference, `${prefix}.reference`);
  if (!IMPORT_FORMATS.has(src.format)) throw invalidArgument(`${prefix}.format`, `${shown(src.format)} is not oci-layout or rootfs-tar`);
  if (src.sizeBytes > MAX_IMPORT_BYTES) throw invalidArgument(`${prefix}.size_bytes`, `${src.sizeBytes} is more than the ${MAX_IMPORT_BYTES} bytes accepted`);
  if (src.path !== "" && src.sizeBytes !== 0) throw invalidArgument(`${prefix}.size_bytes`, "announces streamed bytes although path names the image");
}

export function validatePullRequest(req: PullImageRequest): void {
  rejectUndecodable(req);
  checkImageRef("reference", req.reference);
  // The docker grammar, normalised as the kubelet does (busybox → docker.io/library/busybox:latest).
  parseImageName(req.reference, "reference");
  checkText("username", req.username, MAX_TEXT_BYTES);
  checkText("password", req.password, MAX_TEXT_BYTES);
}

/** A substring filter: "" lists every image. */
export function validateListImagesRequest(req: ListImagesRequest): void {
  rejectUndecodable(req);
  checkText("reference", req.reference, MAX_IMAGE_REF_LENGTH);
}

export function validateInspectImageRequest(req: InspectImageRequest): void {
  rejectUndecodable(req);
  checkImageRef("reference", req.reference);
}

export function validateRemoveImageRequest(req: RemoveImageRequest): void {
  rejectUndecodable(req);
  checkImageRef("reference", req.reference);
}

export const IMAGE_SERVICE_VALIDATORS = {
  PullImage: validatePullRequest,
  ListImages: validateListImagesRequest,
  InspectImage: validateInspectImageRequest,
  RemoveImage: validateRemoveImageRequest,
} as const;
