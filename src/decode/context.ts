/**
 * One decoding call's context: prepared, used, and released at the end (also on a throw), so
 * that its large buffers go back to the engine for the next call rather than waiting for the
 * garbage collector.
 */
import type { DecodeContext, DecodeFeatures, DecoderEngine } from "../model/engine.js";

export function withDecodeContext<T>(engine: DecoderEngine, features: DecodeFeatures, numImages: number, decode: (ctx: DecodeContext) => T): T {
  const ctx = engine.prepareDecode(features, numImages);
  try {
    return decode(ctx);
  } finally {
    engine.releaseDecode?.(ctx);
  }
}
