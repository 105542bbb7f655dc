/**
 * Greedy decoding, batched over images: at every step each unfinished row takes its most
 * probable word; <end> may follow at most maxLength words. A row that never emits <end> still
 * yields its first maxLength words. As in beam search (beam.ts, whose width 1 this equals),
 * <end> is no choice at the first step, so every caption has at least one word.
 */
import type { DecodeFeatures, DecoderEngine } from "../model/engine.js";
import { withDecodeContext } from "./context.js";

export interface DecodedCaption {
  /** Word ids, without <start>/<end>. */
  tokens: number[];
  /** Σ log p of the emitted words (and of <end> when it was emitted). */
  logProb: number;
  /** α_t ([L]) of each emitted word, in order (and of <end> when emitted: the last entry). */
  alphas: Float32Array[];
  betas: number[];
  /** Whether the caption ended with <end> (false: cut at maxLength). */
  finished: boolean;
}

export interface DecodeSettings {
  startId: number;
  endId: number;
  maxLength: number;
}

export function greedyDecode(engine: DecoderEngine, features: DecodeFeatures, numImages: number, s: DecodeSettings): DecodedCaption[] {
  const { vocabSize: K, numLocations: L } = engine.config;
  return withDecodeContext(engine, features, numImages, (ctx) => {
    const rows = Int32Array.from({ length: numImages }, (_, i) => i);
    const state = engine.initialState(ctx, rows);
    const tokens = new Int32Array(numImages).fill(s.startId);
    const out: (DecodedCaption & { cut?: boolean })[] = Array.from({ length: numImages }, () => ({ tokens: [], logProb: 0, alphas: [], betas: [], finished: false }));
    for (let t = 0; t < s.maxLength + 1; t++) {
      const r = engine.decodeStep(ctx, rows, tokens, state);
      let allDone = true;
      for (let i = 0; i < numImages; i++) {
        const cap = out[i];
        if (cap.finished || cap.cut) continue;
        let best = -1;
        for (let k = 0; k < K; k++) {
          if (t === 0 && k === s.endId) continue;
          if (best < 0 || r.logProbs[i * K + k] > r.logProbs[i * K + best]) best = k;
        }
        if (best !== s.endId && cap.tokens.length >= s.maxLength) {
          // maxLength words and still no <end>: the caption is cut here.
          cap.cut = true;
          continue;
        }
        cap.logProb += r.logProbs[i * K + best];
        cap.alphas.push(r.alpha.slice(i * L, (i + 1) * L));
        cap.betas.push(r.beta[i]);
        if (best === s.endId) cap.finished = true;
        else cap.tokens.push(best);
        tokens[i] = best;
        if (!cap.finished) allDone = false;
      }
      if (allDone) break;
    }
    return out.map(({ cut: _cut, ...d }) => d);
  });
}
