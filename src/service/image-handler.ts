// hull.v1.ImageService: the image store (import, pull, list, inspect, remove).
import type { Logger } from "pino";
import type { ImageServiceServer } from "../gen/hull/v1/image.js";
import type { Engine } from "../lifecycle/engine.js";
import { notYetError, notYetServerStream, notYetUnary } from "./rpc.js";

export function imageService(engine: Engine, log: Logger): ImageServiceServer {
  void engine;
  void log;
  const area = "images (the image store)";
  return {
    importImage: (_call, callback) => callback(notYetError(area), null),
    pullImage: notYetServerStream(area),
    listImages: notYetUnary(area),
    inspectImage: notYetUnary(area),
    removeImage: notYetUnary(area),
  };
}
