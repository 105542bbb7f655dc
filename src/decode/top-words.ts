/**
 * The `k` most probable allowed words of every row of one decoding step: the engine's own
 * decodeStepTop where it has one (the native engine selects them in C++ and returns k words
 * a row instead of the whole K-word distribution), else decodeStep and the same selection
 * here. Both give the same words in the same order: best first, ties to the smaller id.
 */
import type { DecodeContext, DecoderEngine, DecodeState, DecodeTopResult } from "../model/engine.js";

/** Writes the top `k` of lp[off, off + K) into ids/vals at `out` (ties: the smaller index first). */
export function topWordsOfRow(lp: Float32Array, off: number, K: number, k: number, blocked: Uint8Array, ids: Int32Array, vals: Float32Array, out: number): void {
  let count = 0;
  for (let i = 0; i < K; i++) {
    const v = lp[off + i];
    if (count === k && v <= vals[out + k - 1]) continue;
    if (blocked[i]) continue;
    let j = count < k ? count++ : k - 1;
    vals[out + j] = v;
    ids[out + j] = i;
    while (j > 0 && vals[out + j - 1] < v) {
      const tv = vals[out + j - 1];
      vals[out + j - 1] = vals[out + j];
      vals[out + j] = tv;
      const ti = ids[out + j - 1];
      ids[out + j - 1] = ids[out + j];
      ids[out + j] = ti;
      j--;
    }
  }
  for (let j = count; j < k; j++) {
    ids[out + j] = -1;
    vals[out + j] = -Infinity;
  }
}

export function decodeTopWords(engine: DecoderEngine, ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, k: number, blocked: Uint8Array, sampleSeed?: number): DecodeTopResult {
  if (engine.decodeStepTop) return engine.decodeStepTop(ctx, rowImage, tokens, state, k, blocked, sampleSeed);
  const r = engine.decodeStep(ctx, rowImage, tokens, state, sampleSeed);
  const N = rowImage.length;
  const K = engine.config.vocabSize;
  const topIds = new Int32Array(N * k);
  const topLogProbs = new Float32Array(N * k);
  for (let row = 0; row < N; row++) topWordsOfRow(r.logProbs, row * K, K, k, blocked, topIds, topLogProbs, row * k);
  return { topIds, topLogProbs, alpha: r.alpha, beta: r.beta, locations: r.locations };
}
