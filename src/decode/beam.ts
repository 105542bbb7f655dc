/**
 * Beam search over log p, batched: every live hypothesis of every image is one row of a
 * single decodeStep call, so the native engine sees one large batch per step. Width 1 is
 * greedy decoding. A caption is always returned: hypotheses cut at maxLength stand in when no
 * beam emitted <end>.
 */
import type { DecodeState, DecoderEngine } from "../model/engine.js";

export interface BeamOptions {
  startId: number;
  endId: number;
  /** Hypotheses kept per image (default 3; 1 = greedy). */
  beamWidth?: number;
  /** Most words in a caption, <end> not counted (default 20). */
  maxLength?: number;
  /** Captions returned per image, best first (default 1, at most beamWidth). */
  topN?: number;
  /**
   * Length normalisation exponent a: rank by log p / length^a (0 = plain log p, the default;
   * length counts <end>).
   */
  lengthPenalty?: number;
  /** Word ids never to emit (e.g. <unk>, <pad>, <start>). */
  suppress?: number[];
  /** Hard attention: sample locations from α with this seed instead of using the expectation. */
  sampleLocationsSeed?: number;
}

export interface BeamCaption {
  /** Word ids without <start>/<end>. */
  tokens: number[];
  /** Σ log p of the words (and of <end> when finished). */
  logProb: number;
  /** The ranking score (logProb, or length-normalised). */
  score: number;
  /** α of each emitted word ([L] each), <end> included when finished. */
  alphas: Float32Array[];
  betas: number[];
  /** The sampled location of each word (hard attention with sampleLocationsSeed), else undefined. */
  locations?: number[];
  finished: boolean;
}

interface Hyp {
  tokens: number[];
  logProb: number;
  alphas: Float32Array[];
  betas: number[];
  locations?: number[];
}

function score(logProb: number, length: number, a: number): number {
  return a === 0 ? logProb : logProb / Math.pow(Math.max(1, length), a);
}

/** Top `k` (value, index) of row `lp` (ties: the smaller index first), skipping suppressed ids. */
function topK(lp: Float32Array, off: number, K: number, k: number, suppressed: Uint8Array): { v: number; i: number }[] {
  const best: { v: number; i: number }[] = [];
  for (let i = 0; i < K; i++) {
    if (suppressed[i]) continue;
    const v = lp[off + i];
    if (best.length === k && v <= best[k - 1].v) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push({ v, i });
    else best[j] = { v, i };
    while (j > 0 && best[j - 1].v < v) {
      [best[j - 1], best[j]] = [best[j], best[j - 1]];
      j--;
    }
  }
  return best;
}

export function beamSearch(engine: DecoderEngine, features: Float32Array, numImages: number, o: BeamOptions): BeamCaption[][] {
  const W = o.beamWidth ?? 3;
  const maxLength = o.maxLength ?? 20;
  const topN = Math.min(o.topN ?? 1, W);
  const a = o.lengthPenalty ?? 0;
  if (!(Number.isInteger(W) && W >= 1)) throw new Error(`beamWidth must be a positive integer (got ${W})`);
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new Error(`maxLength must be a positive integer (got ${maxLength})`);
  const { vocabSize: K, hiddenDim: n, numLocations: L } = engine.config;
  const suppressed = new Uint8Array(K);
  for (const id of o.suppress ?? []) if (id >= 0 && id < K && id !== o.endId) suppressed[id] = 1;

  const ctx = engine.prepareDecode(features, numImages);
  // Live hypotheses: one row each; rowImage says which image a row decodes.
  let rowImage = Int32Array.from({ length: numImages }, (_, i) => i);
  let state: DecodeState = engine.initialState(ctx, rowImage);
  let tokens = new Int32Array(numImages).fill(o.startId);
  let hyps: Hyp[] = Array.from({ length: numImages }, () => ({ tokens: [], logProb: 0, alphas: [], betas: [] }));
  const finished: BeamCaption[][] = Array.from({ length: numImages }, () => []);
  const cut: BeamCaption[][] = Array.from({ length: numImages }, () => []);

  for (let step = 0; step <= maxLength && hyps.length > 0; step++) {
    const r = engine.decodeStep(ctx, rowImage, tokens, state, o.sampleLocationsSeed === undefined ? undefined : (o.sampleLocationsSeed + step) >>> 0);
    // Group rows by image (rows are kept image-contiguous).
    const nextRows: { parent: number; word: number; logProb: number }[] = [];
    let r0 = 0;
    while (r0 < hyps.length) {
      const im = rowImage[r0];
      let r1 = r0;
      while (r1 < hyps.length && rowImage[r1] === im) r1++;
      const lastStep = step === maxLength;
      // Candidates: each row's top W words (<end> included), then the best W overall.
      const cands: { parent: number; word: number; logProb: number }[] = [];
      for (let row = r0; row < r1; row++) {
        for (const c of topK(r.logProbs, row * K, K, W, suppressed)) cands.push({ parent: row, word: c.i, logProb: hyps[row].logProb + c.v });
      }
      cands.sort((x, y) => y.logProb - x.logProb || x.parent - y.parent || x.word - y.word);
      let live = 0;
      for (const c of cands) {
        if (finished[im].length >= W || live >= W) break;
        const h = hyps[c.parent];
        if (c.word === o.endId) {
          const len = h.tokens.length + 1;
          finished[im].push({
            tokens: [...h.tokens],
            logProb: c.logProb,
            score: score(c.logProb, len, a),
            alphas: [...h.alphas, r.alpha.slice(c.parent * L, (c.parent + 1) * L)],
            betas: [...h.betas, r.beta[c.parent]],
            locations: r.locations ? [...(h.locations ?? []), r.locations[c.parent]] : undefined,
            finished: true,
          });
        } else if (!lastStep) {
          nextRows.push(c);
          live++;
        } // at lastStep another word would exceed maxLength: only <end> may still follow

      }
      if (lastStep) {
        // Hypotheses that never emitted <end>: kept as captions cut at maxLength.
        for (let row = r0; row < r1; row++) {
          const h = hyps[row];
          cut[im].push({ tokens: h.tokens, logProb: h.logProb, score: score(h.logProb, h.tokens.length, a), alphas: h.alphas, betas: h.betas, locations: h.locations, finished: false });
        }
      }
      // Without length normalisation log p only falls: once topN finished captions beat every
      // live hypothesis, this image is done.
      if (a === 0 && finished[im].length >= topN) {
        const threshold = finished[im].map((f) => f.logProb).sort((x, y) => y - x)[topN - 1];
        const liveHere = nextRows.filter((c) => rowImage[c.parent] === im);
        if (liveHere.every((c) => c.logProb <= threshold)) nextRows.splice(nextRows.length - liveHere.length, liveHere.length);
      }
      if (finished[im].length >= W) {
        const liveHere = nextRows.filter((c) => rowImage[c.parent] === im).length;
        nextRows.splice(nextRows.length - liveHere, liveHere);
      }
      r0 = r1;
    }
    // Gather the survivors' states and histories.
    const N = nextRows.length;
    const h = new Float32Array(N * n);
    const c = new Float32Array(N * n);
    const newImage = new Int32Array(N);
    const newTokens = new Int32Array(N);
    const newHyps: Hyp[] = [];
    nextRows.forEach((cand, i) => {
      h.set(state.h.subarray(cand.parent * n, (cand.parent + 1) * n), i * n);
      c.set(state.c.subarray(cand.parent * n, (cand.parent + 1) * n), i * n);
      newImage[i] = rowImage[cand.parent];
      newTokens[i] = cand.word;
      const p = hyps[cand.parent];
      newHyps.push({
        tokens: [...p.tokens, cand.word],
        logProb: cand.logProb,
        alphas: [...p.alphas, r.alpha.slice(cand.parent * L, (cand.parent + 1) * L)],
        betas: [...p.betas, r.beta[cand.parent]],
        locations: r.locations ? [...(p.locations ?? []), r.locations[cand.parent]] : undefined,
      });
    });
    state = { h, c };
    rowImage = newImage;
    tokens = newTokens;
    hyps = newHyps;
  }
  return finished.map((f, im) => {
    const pool = f.length > 0 ? f : cut[im];
    return [...pool].sort((x, y) => y.score - x.score).slice(0, topN);
  });
}
