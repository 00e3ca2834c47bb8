// runtime.v1.ImageService: thin adapters from CRI messages onto the image
// operations hull.v1 uses (src/ops/images.ts), with the CRI's semantics
// where they differ: references normalised the docker way, ImageStatus of an
// absent image answers an empty status rather than NOT_FOUND, RemoveImage is
// idempotent and removes the image with all its names (containerd's
// behaviour; the kubelet removes by id), and PullImage answers the image id.
import type {
  Image,
  ImageFsInfoRequest,
  ImageFsInfoResponse,
  ImageServiceServer,
  ImageStatusRequest,
  ImageStatusResponse,
  ListImagesRequest,
  ListImagesResponse,
  PullImageRequest,
  PullImageResponse,
  RemoveImageRequest,
  RemoveImageResponse,
} from "../../gen/runtime/v1/api.js";
import type { Engine } from "../../engine/engine.js";
import type { ImageRecord } from "../../images/image-store.js";
import { findImage, imageFilesystemUsage, listImages, pullImage, removeImage } from "../../ops/images.js";
import { invalidArgument } from "../../errors.js";
import {
  validateCriImageFsInfo,
  validateCriImageStatus,
  validateCriListImages,
  validateCriPullImage,
  validateCriRemoveImage,
} from "../../validation/cri/image-requests.js";
import type { RpcWrapper } from "../rpc.js";

/** The image's USER as the CRI splits it: a numeric user is a uid, anything else a username; the group is not the CRI's. */
function imageUser(user: string): Pick<Image, "uid" | "username"> {
  const name = user.split(":")[0];
  if (name === "") return { username: "" };
  if (/^\d+$/.test(name)) return { uid: { value: BigInt(name) }, username: "" };
  return { username: name };
}

export function toCriImage(img: ImageRecord, pinned: boolean): Image {
  return {
    id: img.id,
    repoTags: [...img.tags],
    repoDigests: [...img.repoDigests],
    size: BigInt(img.sizeBytes),
    ...imageUser(img.user),
    spec: { image: img.id, annotations: {}, userSpecifiedImage: "", runtimeHandler: "" },
    pinned,
  };
}

/** username/password from the CRI's AuthConfig: the explicit fields, else docker config's base64 `auth`. */
function credentialsOf(auth: PullImageRequest["auth"]): { username: string; password: string; registryToken: string } {
  if (auth === undefined) return { username: "", password: "", registryToken: "" };
  if (auth.username !== "" || auth.password !== "" || auth.auth === "")
    return { username: auth.username, password: auth.password, registryToken: auth.registryToken };
  const decoded = Buffer.from(auth.auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw invalidArgument("auth.auth", "does not decode to username:password");
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), registryToken: auth.registryToken };
}

export interface CriImageOptions {
  /** Images the kubelet's garbage collection must leave alone (the pause image). */
  pinned: (img: ImageRecord) => boolean;
}

/** The handlers of runtime.v1.ImageService. */
export function criImageHandlers(engine: Engine, rpc: RpcWrapper, opts: CriImageOptions): Partial<ImageServiceServer> {
  return {
    listImages: rpc.unary<ListImagesRequest, ListImagesResponse>("ListImages", async (req) => {
      validateCriListImages(req);
      const ref = req.filter?.image?.image ?? "";
      const images = ref === "" ? listImages(engine, "") : [findImage(engine, ref)].filter((i): i is ImageRecord => i !== undefined);
      return { images: images.map((i) => toCriImage(i, opts.pinned(i))) };
    }),
    imageStatus: rpc.unary<ImageStatusRequest, ImageStatusResponse>("ImageStatus", async (req) => {
      validateCriImageStatus(req);
      const img = findImage(engine, req.image?.image ?? "");
      if (img === undefined) return { info: {} };
      // verbose: the record as hull keeps it, as containerd's "info" carries its image spec.
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify(img) } : {};
      return { image: toCriImage(img, opts.pinned(img)), info };
    }),
    pullImage: rpc.unary<PullImageRequest, PullImageResponse>("PullImage", async (req, ctx) => {
      validateCriPullImage(req);
      const creds = credentialsOf(req.auth);
      const img = await pullImage(engine, { reference: req.image?.image ?? "", insecure: false, ...creds }, ctx.signal, () => undefined);
      return { imageRef: img.id };
    }),
    imageFsInfo: rpc.unary<ImageFsInfoRequest, ImageFsInfoResponse>("ImageFsInfo", async (req) => {
      validateCriImageFsInfo(req);
      const { images, containers } = await imageFilesystemUsage(engine);
      const usage = (u: typeof images): ImageFsInfoResponse["imageFilesystems"][number] => ({
        timestamp: u.timestampNs,
        fsId: { mountpoint: u.path },
        usedBytes: { value: u.usedBytes },
        inodesUsed: { value: u.inodesUsed },
      });
      return { imageFilesystems: [usage(images)], containerFilesystems: [usage(containers)] };
    }),
    removeImage: rpc.unary<RemoveImageRequest, RemoveImageResponse>("RemoveImage", async (req) => {
      validateCriRemoveImage(req);
      const img = findImage(engine, req.image?.image ?? "");
      if (img !== undefined) await removeImage(engine, img.id, false);
      return {};
    }),
  };
}
