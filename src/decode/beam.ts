/**
 * Beam search over log p, batched: every live hypothesis of every image is one row of a
 * single decodeStep call, so the engine sees one large batch per step. Width 1 is greedy
 * decoding.
 *
 * Invariants:
 * - Rows are independent: each image's hypotheses, candidates and stopping depend only on its
 *   own rows, so decoding images together gives exactly the captions and scores of decoding
 *   each alone (with sampleLocationsSeed a row's draw also depends on its row index, so
 *   sampled locations are the one exception).
 * - Every caption has at least one word: <end> is no candidate at the first step. Since
 *   maxLength >= 1, a one-word hypothesis always exists, so an empty caption is never
 *   offered in place of one with words. (p(<end>) still counts in the first step's
 *   normalisation: the words' log p are the model's, as for suppressed ids.)
 * - A caption is always returned: hypotheses cut at maxLength stand in when no beam of the
 *   image emitted <end>.
 */
import type { DecodeFeatures, DecodeState, DecoderEngine } from "../model/engine.js";
import { DECODE_DEFAULTS } from "./defaults.js";
import { decodeTopWords } from "./top-words.js";
import { withDecodeContext } from "./context.js";

export interface BeamOptions {
  startId: number;
  endId: number;
  /** Hypotheses kept per image (1 = greedy). Default: DECODE_DEFAULTS. */
  beamWidth?: number;
  /** Most words in a caption, <end> not counted. */
  maxLength?: number;
  /** Captions returned per image, best first (at most beamWidth). */
  topN?: number;
  /**
   * Length normalisation exponent a: rank by log p / length^a (0 = plain log p; length
   * counts <end>).
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

/**
 * One emitted word of a hypothesis, linked to the word before it: hypotheses that share a
 * prefix share its nodes, so a step costs O(rows), not O(rows x length).
 */
interface WordNode {
  prev: WordNode | null;
  word: number;
  alpha: Float32Array;
  beta: number;
  location: number | undefined;
}

interface Hyp {
  last: WordNode | null;
  logProb: number;
}

interface Candidate {
  parent: number;
  word: number;
  logProb: number;
}

function score(logProb: number, length: number, a: number): number {
  return a === 0 ? logProb : logProb / Math.pow(Math.max(1, length), a);
}

/** The caption ending in node `last` (its <end> node when finished). */
function spell(last: WordNode | null, logProb: number, finished: boolean, a: number): BeamCaption {
  const nodes: WordNode[] = [];
  for (let w = last; w; w = w.prev) nodes.push(w);
  nodes.reverse();
  const words = finished ? nodes.slice(0, -1) : nodes;
  const sampled = nodes.length > 0 && nodes[0].location !== undefined;
  return {
    tokens: words.map((w) => w.word),
    logProb,
    score: score(logProb, nodes.length, a),
    alphas: nodes.map((w) => w.alpha),
    betas: nodes.map((w) => w.beta),
    locations: sampled ? nodes.map((w) => w.location!) : undefined,
    finished,
  };
}

export function beamSearch(engine: DecoderEngine, features: DecodeFeatures, numImages: number, o: BeamOptions): BeamCaption[][] {
  const beamWidth = o.beamWidth ?? DECODE_DEFAULTS.beamWidth;
  const maxLength = o.maxLength ?? DECODE_DEFAULTS.maxLength;
  const topN = Math.min(o.topN ?? DECODE_DEFAULTS.topN, beamWidth);
  const a = o.lengthPenalty ?? DECODE_DEFAULTS.lengthPenalty;
  if (!(Number.isInteger(beamWidth) && beamWidth >= 1)) throw new Error(`beamWidth must be a positive integer (got ${beamWidth})`);
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new Error(`maxLength must be a positive integer (got ${maxLength})`);
  const { vocabSize: K, hiddenDim: n, numLocations: L } = engine.config;
  const suppressed = new Uint8Array(K);
  for (const id of o.suppress ?? []) if (id >= 0 && id < K && id !== o.endId) suppressed[id] = 1;
  const suppressedFirst = Uint8Array.from(suppressed);
  if (o.endId >= 0 && o.endId < K) suppressedFirst[o.endId] = 1;

  return withDecodeContext(engine, features, numImages, (ctx) => {
    // Live hypotheses: one row each, kept image-contiguous; rowImage says which image a row decodes.
    let rowImage = Int32Array.from({ length: numImages }, (_, i) => i);
    let state: DecodeState = engine.initialState(ctx, rowImage);
    let tokens = new Int32Array(numImages).fill(o.startId);
    let hyps: Hyp[] = Array.from({ length: numImages }, () => ({ last: null, logProb: 0 }));
    const finished: BeamCaption[][] = Array.from({ length: numImages }, () => []);
    const cut: BeamCaption[][] = Array.from({ length: numImages }, () => []);

    for (let step = 0; step <= maxLength && hyps.length > 0; step++) {
      const blocked = step === 0 ? suppressedFirst : suppressed;
      const r = decodeTopWords(engine, ctx, rowImage, tokens, state, beamWidth, blocked, o.sampleLocationsSeed === undefined ? undefined : (o.sampleLocationsSeed + step) >>> 0);
      const node = (row: number, word: number): WordNode => ({
        prev: hyps[row].last,
        word,
        alpha: r.alpha.slice(row * L, (row + 1) * L),
        beta: r.beta[row],
        location: r.locations ? r.locations[row] : undefined,
      });
      const lastStep = step === maxLength;
      const nextRows: Candidate[] = [];
      let r0 = 0;
      while (r0 < hyps.length) {
        const im = rowImage[r0];
        let r1 = r0;
        while (r1 < hyps.length && rowImage[r1] === im) r1++;
        // Candidates: each row's top beamWidth words (<end> included), then the best beamWidth overall.
        const cands: Candidate[] = [];
        for (let row = r0; row < r1; row++) {
          for (let j = row * beamWidth; j < (row + 1) * beamWidth && r.topIds[j] >= 0; j++) cands.push({ parent: row, word: r.topIds[j], logProb: hyps[row].logProb + r.topLogProbs[j] });
        }
        cands.sort((x, y) => y.logProb - x.logProb || x.parent - y.parent || x.word - y.word);
        const live: Candidate[] = [];
        for (const c of cands) {
          if (finished[im].length >= beamWidth || live.length >= beamWidth) break;
          if (c.word === o.endId) {
            finished[im].push(spell(node(c.parent, c.word), c.logProb, true, a));
          } else if (!lastStep) {
            live.push(c);
          } // at lastStep another word would exceed maxLength: only <end> may still follow
        }
        if (lastStep) {
          // Hypotheses that never emitted <end>: kept as captions cut at maxLength.
          for (let row = r0; row < r1; row++) cut[im].push(spell(hyps[row].last, hyps[row].logProb, false, a));
        }
        let done = finished[im].length >= beamWidth;
        // Without length normalisation log p only falls: once topN finished captions beat every
        // live hypothesis, this image is done.
        if (!done && a === 0 && finished[im].length >= topN) {
          const threshold = finished[im].map((f) => f.logProb).sort((x, y) => y - x)[topN - 1];
          done = live.every((c) => c.logProb <= threshold);
        }
        if (!done) nextRows.push(...live);
        r0 = r1;
      }
      // Gather the survivors' states and histories.
      const N = nextRows.length;
      const h = new Float32Array(N * n);
      const c = new Float32Array(N * n);
      const newImage = new Int32Array(N);
      const newTokens = new Int32Array(N);
      const newHyps: Hyp[] = new Array<Hyp>(N);
      nextRows.forEach((cand, i) => {
        h.set(state.h.subarray(cand.parent * n, (cand.parent + 1) * n), i * n);
        c.set(state.c.subarray(cand.parent * n, (cand.parent + 1) * n), i * n);
        newImage[i] = rowImage[cand.parent];
        newTokens[i] = cand.word;
        newHyps[i] = { last: node(cand.parent, cand.word), logProb: cand.logProb };
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
  });
}
