/**
 * What an encoder's features are: the record a feature store and a model keep of the encoder
 * that made their features. It lives with the data because stores are read without loading
 * any encoder; encoder/ implements encoders that carry one.
 */
import type { PreprocessOptions } from "./images.js";

/** How pixels (RGB, 0..255) become the network's input: x = (pixel * scale - mean) / std, per channel in `channelOrder`. */
export interface Normalisation {
  channelOrder: "rgb" | "bgr";
  scale: number;
  /** Per channel, in `channelOrder`. */
  mean: [number, number, number];
  std: [number, number, number];
}

/** What produced a set of features; two feature sets are comparable only if these agree. */
export interface EncoderIdentity {
  /** Short name (e.g. `resnet50-activation_39`). */
  name: string;
  /** sha256 of model.json and all weight shards. */
  modelSha256: string;
  layer: string;
  L: number;
  D: number;
  /** Output grid (h, w) with L = h * w. */
  grid: [number, number];
  inputSize: number;
  normalisation: Normalisation;
  preprocess: PreprocessOptions;
}
