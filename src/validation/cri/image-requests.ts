// One validator per runtime.v1.ImageService request, checked before the
// operation runs: references in the docker grammar (as the kubelet sends
// them), bounded credentials, annotations as string maps.
import type { ImageFsInfoRequest, ImageSpec, ImageStatusRequest, ListImagesRequest, PullImageRequest, RemoveImageRequest } from "../../gen/runtime/v1/api.js";
import { invalidArgument } from "../../errors.js";
import { parseImageName } from "../../domain/reference.js";
import { rejectUndecodable } from "../wire.js";
import { MAX_TEXT_BYTES, checkImageRef, checkStringMap, checkText } from "../rules.js";

/** An ImageSpec naming an image: a reference, id or id prefix. */
export function checkImageSpec(field: string, spec: ImageSpec | undefined): string {
  if (spec === undefined) throw invalidArgument(field, "an image is required");
  checkImageRef(`${field}.image`, spec.image);
  checkStringMap(`${field}.annotations`, spec.annotations);
  checkText(`${field}.user_specified_image`, spec.userSpecifiedImage, MAX_TEXT_BYTES);
  checkText(`${field}.runtime_handler`, spec.runtimeHandler, MAX_TEXT_BYTES);
  return spec.image;
}

export function validateCriPullImage(req: PullImageRequest): void {
  rejectUndecodable(req);
  const image = checkImageSpec("image", req.image);
  parseImageName(image, "image.image");
  const auth = req.auth;
  if (auth !== undefined) {
    for (const key of ["username", "password", "auth", "serverAddress", "identityToken", "registryToken"] as const)
      checkText(`auth.${key}`, auth[key], MAX_TEXT_BYTES);
    if (auth.auth !== "" && !/^[A-Za-z0-9+/]*={0,2}$/.test(auth.auth)) throw invalidArgument("auth.auth", "must be base64 of username:password");
    if (auth.identityToken !== "")
      throw invalidArgument("auth.identity_token", "OAuth2 identity tokens are not supported; give username/password, auth or registry_token");
  }
}

export function validateCriImageStatus(req: ImageStatusRequest): void {
  rejectUndecodable(req);
  checkImageSpec("image", req.image);
}

export function validateCriListImages(req: ListImagesRequest): void {
  rejectUndecodable(req);
  const spec = req.filter?.image;
  if (spec !== undefined && spec.image !== "") checkImageSpec("filter.image", spec);
}

export function validateCriRemoveImage(req: RemoveImageRequest): void {
  rejectUndecodable(req);
  checkImageSpec("image", req.image);
}

export function validateCriImageFsInfo(req: ImageFsInfoRequest): void {
  rejectUndecodable(req);
}
