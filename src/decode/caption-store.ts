/**
 * Captions a whole split from a feature store (no images decoded): what validation during
 * training and `sat eval --model` do, so both decode exactly the same way. Images are decoded
 * DECODE_BATCH_IMAGES at a time, all their live beams in one engine step; beam search keeps
 * images independent, so the captions are those of decoding each image alone.
 */
import type { FeatureStore } from "../data/feature-store.js";
import type { Vocabulary } from "../data/vocab.js";
import type { DecoderEngine } from "../model/engine.js";
import { beamSearch } from "./beam.js";
import { beamOptionsFor, type CaptionOptions } from "./caption-features.js";
import { DECODE_BATCH_IMAGES } from "./defaults.js";

export interface StoreDecodeOptions extends Pick<CaptionOptions, "beamWidth" | "maxLength" | "lengthPenalty"> {
  /** Images decoded together (default DECODE_BATCH_IMAGES). */
  imagesPerBatch?: number;
  onProgress?: (done: number) => void;
}

/** The best caption of each image id (tokens joined by spaces, `<unk>` suppressed). */
export function captionStoredImages(engine: DecoderEngine, vocab: Vocabulary, store: FeatureStore, ids: readonly string[], o: StoreDecodeOptions = {}): Map<string, string> {
  const batch = o.imagesPerBatch ?? DECODE_BATCH_IMAGES;
  const LD = store.L * store.D;
  // The stored float16 bits go to the engine as they are (see DecodeFeatures).
  const buf = new Uint16Array(Math.min(batch, ids.length) * LD);
  const beam = beamOptionsFor({ beamWidth: o.beamWidth, maxLength: o.maxLength, lengthPenalty: o.lengthPenalty, topN: 1 });
  const out = new Map<string, string>();
  for (let s = 0; s < ids.length; s += batch) {
    const chunk = ids.slice(s, s + batch);
    const feats = store.readBatchHalf(chunk, buf.subarray(0, chunk.length * LD));
    const res = beamSearch(engine, feats, chunk.length, beam);
    chunk.forEach((id, k) => out.set(id, vocab.decode(res[k][0].tokens).join(" ")));
    o.onProgress?.(Math.min(ids.length, s + batch));
  }
  return out;
}
