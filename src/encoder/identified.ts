/**
 * The part every encoder shares: its shape and preprocessing are read off its identity, so
 * the two can never disagree. Browser-safe (type imports only): the shapes encoder and the
 * web page's encoders extend it without pulling in tfjs or onnxruntime.
 */
import type { PreprocessOptions } from "../data/images.js";
import type { Encoder, EncoderIdentity } from "./encoder.js";

export abstract class IdentifiedEncoder implements Encoder {
  abstract readonly id: EncoderIdentity;
  get L(): number {
    return this.id.L;
  }
  get D(): number {
    return this.id.D;
  }
  get inputSize(): number {
    return this.id.inputSize;
  }
  get preprocess(): PreprocessOptions {
    return this.id.preprocess;
  }
  abstract encode(images: readonly Uint8Array[]): Float32Array;
  abstract dispose(): void;
}
