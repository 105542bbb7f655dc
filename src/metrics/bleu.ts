/**
 * BLEU-1..4 as coco-caption computes it (pycocoevalcap/bleu/bleu_scorer.py, option 'closest').
 *
 * - Clipped n-gram matches ("correct") and hypothesis n-grams ("guess") are summed over the
 *   whole set, then BLEU-n = (prod_{k<=n} p_k)^(1/n) x BP: a corpus score, not a mean.
 * - Clipping uses the maximum count of the n-gram in any *single* reference.
 * - Each image's effective reference length is the reference length closest to the
 *   hypothesis length, ties going to the shorter; r is the sum of these.
 * - BP = exp(1 - r/c) applied only when c < r, computed as coco-caption does via
 *   ratio = (c + 1e-15) / (r + 1e-9) and exp(1 - 1/ratio).
 * - No smoothing: 1e-15 ("tiny") is added to matches and 1e-9 ("small") to guesses, so a zero
 *   match count yields a score near 1e-8 rather than 0 or an error.
 * - Per-image scores apply the same formula to the image alone (per-sentence BP); their mean
 *   is *not* the corpus score, and coco-caption reports the corpus score.
 *
 * `bleuNoBp` is the same corpus computation without the brevity penalty: the figure Xu et al.
 * (2015) report in Table 1 ("BLEU ... without a brevity penalty").
 */
import { NgramInterner, splitWhitespace, type SentenceNgrams } from "./ngrams.js";

const TINY = 1e-15;
const SMALL = 1e-9;

/** Sufficient statistics of one image (coco-caption's `comps`). */
export interface BleuStats {
  testLen: number;
  refLen: number;
  guess: number[];
  correct: number[];
}

export interface BleuResult {
  /** Corpus BLEU-1..n with brevity penalty (the coco-caption numbers). */
  bleu: number[];
  /** Corpus BLEU-1..n without brevity penalty (the seed paper's variant). */
  bleuNoBp: number[];
  /** Per-image BLEU-1..n (per-sentence BP), indexed [image][order-1]. */
  perImage: number[][];
  /** Total hypothesis length c and effective reference length r. */
  testLen: number;
  refLen: number;
}

/** The reference length closest to the hypothesis length; ties go to the shorter one. */
export function closestRefLen(refLens: readonly number[], testLen: number): number {
  let best = refLens[0];
  for (const l of refLens) {
    const d = Math.abs(l - testLen);
    const bd = Math.abs(best - testLen);
    if (d < bd || (d === bd && l < best)) best = l;
  }
  return best;
}

/**
 * Statistics of one image from interned n-grams. maxCounts is an id-indexed scratch array of
 * zeros; it holds each n-gram's maximum count in any single reference while the image is
 * processed and is zeroed again before returning.
 */
function statsOf(hyp: SentenceNgrams, testLen: number, refs: readonly SentenceNgrams[], refLens: readonly number[], maxCounts: Int32Array, n: number): BleuStats {
  if (refs.length === 0) throw new Error("bleu: an image needs at least one reference");
  for (const r of refs) {
    for (let j = 0; j < r.ids.length; j++) if (r.counts[j] > maxCounts[r.ids[j]]) maxCounts[r.ids[j]] = r.counts[j];
  }
  const guess: number[] = [];
  const correct: number[] = [];
  for (let k = 0; k < n; k++) {
    guess.push(Math.max(0, testLen - k));
    let c = 0;
    for (let j = hyp.start[k]; j < hyp.start[k + 1]; j++) c += Math.min(hyp.counts[j], maxCounts[hyp.ids[j]]);
    correct.push(c);
  }
  for (const r of refs) for (const id of r.ids) maxCounts[id] = 0;
  return { testLen, refLen: closestRefLen(refLens, testLen), guess, correct };
}

/** Statistics of one hypothesis against its references (all already tokenised). */
export function bleuStats(hyp: string, refs: readonly string[], n = 4): BleuStats {
  const it = new NgramInterner();
  const rw = refs.map(splitWhitespace);
  const hw = splitWhitespace(hyp);
  const rn = rw.map((w) => it.sentence(w, n));
  const hn = it.sentence(hw, n);
  return statsOf(hn, hw.length, rn, rw.map((w) => w.length), new Int32Array(it.size), n);
}

/** BLEU-1..n from aggregated statistics, in coco-caption's order of operations. */
function bleuFrom(correct: readonly number[], guess: readonly number[], testLen: number, refLen: number, withBp: boolean): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let k = 0; k < correct.length; k++) {
    prod *= (correct[k] + TINY) / (guess[k] + SMALL);
    out.push(prod ** (1 / (k + 1)));
  }
  if (withBp) {
    const ratio = (testLen + TINY) / (refLen + SMALL);
    if (ratio < 1) {
      const bp = Math.exp(1 - 1 / ratio);
      for (let k = 0; k < out.length; k++) out[k] *= bp;
    }
  }
  return out;
}

/** Aggregates per-image statistics into corpus and per-image BLEU. */
export function bleuFromStats(stats: readonly BleuStats[], n = 4): BleuResult {
  const correct = new Array<number>(n).fill(0);
  const guess = new Array<number>(n).fill(0);
  let testLen = 0;
  let refLen = 0;
  const perImage: number[][] = [];
  for (const s of stats) {
    testLen += s.testLen;
    refLen += s.refLen;
    for (let k = 0; k < n; k++) {
      correct[k] += s.correct[k];
      guess[k] += s.guess[k];
    }
    perImage.push(bleuFrom(s.correct, s.guess, s.testLen, s.refLen, true));
  }
  return {
    bleu: bleuFrom(correct, guess, testLen, refLen, true),
    bleuNoBp: bleuFrom(correct, guess, testLen, refLen, false),
    perImage,
    testLen,
    refLen,
  };
}

/**
 * Corpus BLEU-1..n of tokenised hypotheses against tokenised references, aligned by index
 * (hyps[i] is scored against refs[i]).
 */
export function bleu(hyps: readonly string[], refs: readonly (readonly string[])[], n = 4): BleuResult {
  if (hyps.length !== refs.length) throw new Error("bleu: hyps and refs differ in length");
  const it = new NgramInterner();
  const refWords = refs.map((rs) => rs.map(splitWhitespace));
  const refNg = refWords.map((rs) => rs.map((w) => it.sentence(w, n)));
  const hypWords = hyps.map(splitWhitespace);
  const hypNg = hypWords.map((w) => it.sentence(w, n));
  const maxCounts = new Int32Array(it.size);
  const stats = hypNg.map((h, i) => statsOf(h, hypWords[i].length, refNg[i], refWords[i].map((w) => w.length), maxCounts, n));
  return bleuFromStats(stats, n);
}
