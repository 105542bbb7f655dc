/**
 * Captions a whole split from a feature store (no images decoded): what validation during
 * training and `sat eval --model` do, so both decode exactly the same way.
 */
import type { FeatureStore } from "../data/feature-store.js";
import { END, PAD, START, UNK, type Vocabulary } from "../data/vocab.js";
import type { DecoderEngine } from "../model/engine.js";
import { beamSearch } from "./beam.js";

export interface SplitDecodeOptions {
  beamWidth: number;
  maxLength?: number;
  lengthPenalty?: number;
  /** Images decoded together (default 64). */
  batchSize?: number;
  onProgress?: (done: number) => void;
}

/** The best caption of each image id (tokens joined by spaces, `<unk>` suppressed). */
export function captionStoredImages(engine: DecoderEngine, vocab: Vocabulary, store: FeatureStore, ids: readonly string[], o: SplitDecodeOptions): Map<string, string> {
  const batch = o.batchSize ?? 64;
  const LD = store.L * store.D;
  const buf = new Float32Array(batch * LD);
  const out = new Map<string, string>();
  for (let s = 0; s < ids.length; s += batch) {
    const chunk = ids.slice(s, s + batch);
    const feats = store.readBatch(chunk, buf.subarray(0, chunk.length * LD));
    const res = beamSearch(engine, feats, chunk.length, {
      startId: START,
      endId: END,
      beamWidth: o.beamWidth,
      maxLength: o.maxLength ?? 20,
      lengthPenalty: o.lengthPenalty ?? 0,
      suppress: [PAD, START, UNK],
    });
    chunk.forEach((id, k) => out.set(id, vocab.decode(res[k][0].tokens).join(" ")));
    o.onProgress?.(Math.min(ids.length, s + batch));
  }
  return out;
}
