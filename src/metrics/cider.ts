/**
 * CIDEr-D as coco-caption computes it (pycocoevalcap/cider/cider_scorer.py; the toolkit labels
 * it "CIDEr" but it is the CIDEr-D variant).
 *
 * - n = 1..4; tf = raw n-gram counts; idf = log(N) - log(max(1, df)), where N is the number of
 *   images in the set being scored and df counts the images whose *references* contain the
 *   n-gram. idf therefore comes from the scored set itself: a one-image set has idf 0 for every
 *   n-gram its references contain and scores 0.
 * - For each reference: per order n, sum over hypothesis n-grams of
 *   min(vh, vr) * vr (clipping of the hypothesis weight by the reference's), divided by
 *   |vh||vr| when both norms are non-zero, times exp(-delta^2 / (2 sigma^2)) with sigma = 6.
 *   delta is the difference of the two sentences' "lengths", which the toolkit measures as
 *   their number of *bigrams* (tokens - 1, or 0).
 * - Image score = mean over n, divided by the number of references (i.e. mean over refs),
 *   times 10. The corpus score is the mean of the image scores.
 */
import { NgramInterner, splitWhitespace, type SentenceNgrams } from "./ngrams.js";

export interface CiderOptions {
  n?: number;
  sigma?: number;
}

export interface CiderResult {
  /** Mean of the per-image scores (what coco-caption prints as CIDEr). */
  score: number;
  perImage: number[];
}

interface Vec {
  ng: SentenceNgrams;
  /** tf-idf weight of each n-gram, parallel to ng.ids. */
  weights: Float64Array;
  norms: number[];
  length: number;
}

/** CIDEr-D of tokenised hypotheses against tokenised references, aligned by index. */
export function ciderD(hyps: readonly string[], refs: readonly (readonly string[])[], opts: CiderOptions = {}): CiderResult {
  const n = opts.n ?? 4;
  const sigma = opts.sigma ?? 6;
  if (hyps.length !== refs.length) throw new Error("ciderD: hyps and refs differ in length");
  const interner = new NgramInterner();
  const refNg = refs.map((rs) => {
    if (rs.length === 0) throw new Error("ciderD: an image needs at least one reference");
    return rs.map((r) => interner.sentence(splitWhitespace(r), n));
  });
  const hypNg = hyps.map((h) => interner.sentence(splitWhitespace(h), n));
  const size = interner.size;

  // Document frequency: the number of images whose reference set contains the n-gram.
  const df = new Int32Array(size);
  const stamp = new Int32Array(size).fill(-1);
  refNg.forEach((rs, img) => {
    for (const s of rs) {
      for (const id of s.ids) {
        if (stamp[id] !== img) {
          stamp[id] = img;
          df[id]++;
        }
      }
    }
  });
  const refLen = Math.log(refs.length);
  // n-grams absent from every reference have df 0 -> log(max(1, 0)) = 0 -> idf = log(N).
  const idf = new Float64Array(size);
  for (let id = 0; id < size; id++) idf[id] = refLen - Math.log(Math.max(1, df[id]));

  const toVec = (ng: SentenceNgrams): Vec => {
    const weights = new Float64Array(ng.ids.length);
    const norms: number[] = [];
    let length = 0;
    for (let k = 0; k < n; k++) {
      let sq = 0;
      for (let j = ng.start[k]; j < ng.start[k + 1]; j++) {
        const v = ng.counts[j] * idf[ng.ids[j]];
        weights[j] = v;
        sq += v ** 2;
        // The toolkit's "length" accumulates term frequencies of order index 1: bigrams.
        if (k === 1) length += ng.counts[j];
      }
      norms.push(Math.sqrt(sq));
    }
    return { ng, weights, norms, length };
  };

  // Reference weights are scattered into an id-indexed scratch array for the dot products.
  const scratch = new Float64Array(size);
  const perImage: number[] = [];
  for (let i = 0; i < hyps.length; i++) {
    const vh = toVec(hypNg[i]);
    const score = new Array<number>(n).fill(0);
    for (const rng of refNg[i]) {
      const vr = toVec(rng);
      for (let j = 0; j < rng.ids.length; j++) scratch[rng.ids[j]] = vr.weights[j];
      const delta = vh.length - vr.length;
      const penalty = Math.E ** (-(delta ** 2) / (2 * sigma ** 2));
      for (let k = 0; k < n; k++) {
        let val = 0;
        for (let j = vh.ng.start[k]; j < vh.ng.start[k + 1]; j++) {
          const r = scratch[vh.ng.ids[j]];
          val += Math.min(vh.weights[j], r) * r;
        }
        if (vh.norms[k] !== 0 && vr.norms[k] !== 0) val /= vh.norms[k] * vr.norms[k];
        score[k] += val * penalty;
      }
      for (let j = 0; j < rng.ids.length; j++) scratch[rng.ids[j]] = 0;
    }
    let mean = 0;
    for (let k = 0; k < n; k++) mean += score[k];
    mean /= n;
    perImage.push((mean / refNg[i].length) * 10);
  }
  let total = 0;
  for (const s of perImage) total += s;
  return { score: perImage.length ? total / perImage.length : 0, perImage };
}
