/**
 * Sampled decoding, batched over rows: each row draws its next word from the model's
 * distribution p(y_t | ...) instead of taking the most probable one. Self-critical training
 * samples several captions per image this way. Like greedy decoding, attention is the
 * expectation (what inference uses) and dropout is off, so the captions come from exactly the
 * distribution that a dropout-free teacher-forced pass over them scores.
 */
import type { DecodeFeatures, DecoderEngine } from "../model/engine.js";
import type { SeededRandom } from "../util/rng.js";
import { entropy } from "../model/reference.js";
import type { DecodeSettings } from "./greedy.js";
import { withDecodeContext } from "./context.js";

export interface SampledCaption {
  /** Word ids, without <start>/<end>. */
  tokens: number[];
  /** Whether the caption ended with <end> (false: cut at maxLength words). */
  finished: boolean;
  /** Σ log p of the sampled words (and of <end> when emitted). */
  logProb: number;
}

export interface SampleResult {
  captions: SampledCaption[];
  /** Mean entropy (nats) of α over the emitted words of all rows. */
  attentionEntropy: number;
}

/**
 * Samples one caption per row; row r decodes image rowImage[r] of `features` ([numImages, L, D]).
 * A row that reaches maxLength words without drawing <end> is cut there.
 */
export function sampleDecode(engine: DecoderEngine, features: DecodeFeatures, numImages: number, rowImage: Int32Array, rng: SeededRandom, s: DecodeSettings): SampleResult {
  const { vocabSize: K, numLocations: L } = engine.config;
  const N = rowImage.length;
  return withDecodeContext(engine, features, numImages, (ctx) => {
    const state = engine.initialState(ctx, rowImage);
    const tokens = new Int32Array(N).fill(s.startId);
    const out: SampledCaption[] = Array.from({ length: N }, () => ({ tokens: [], finished: false, logProb: 0 }));
    const done = new Uint8Array(N);
    let entropySum = 0;
    let entropyCount = 0;
    for (let t = 0; t < s.maxLength; t++) {
      const r = engine.decodeStep(ctx, rowImage, tokens, state);
      let active = 0;
      for (let i = 0; i < N; i++) {
        if (done[i]) continue;
        const cap = out[i];
        const lp = r.logProbs.subarray(i * K, (i + 1) * K);
        // Inverse-CDF draw of the next word.
        let w = -1;
        let u = rng.next();
        for (let k = 0; k < K; k++) {
          u -= Math.exp(lp[k]);
          if (u < 0) {
            w = k;
            break;
          }
        }
        if (w < 0) w = argmax(lp); // u beyond the float sum of p: rounding, take the mode
        cap.logProb += lp[w];
        entropySum += entropy(r.alpha.subarray(i * L, (i + 1) * L));
        entropyCount++;
        if (w === s.endId) {
          cap.finished = true;
          done[i] = 1;
        } else {
          cap.tokens.push(w);
          // maxLength words and no <end>: the caption is cut here.
          if (cap.tokens.length >= s.maxLength) done[i] = 1;
          else active++;
        }
        tokens[i] = w;
      }
      if (active === 0) break;
    }
    return { captions: out, attentionEntropy: entropyCount ? entropySum / entropyCount : 0 };
  });
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let k = 1; k < a.length; k++) if (a[k] > a[best]) best = k;
  return best;
}
