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

/**
 * CIDEr-D against a fixed set of reference sets: document frequencies are counted once over
 * `refs` (one entry per image), then any hypothesis can be scored against any image's
 * references. Self-critical training scores sampled captions this way, with idf from the
 * whole training split rather than from the minibatch.
 */
export class CiderDScorer {
  private readonly n: number;
  private readonly sigma: number;
  private readonly logN: number;
  private interner = new NgramInterner();
  private refVecs: Vec[][] = [];
  /** idf of the n-grams interned while counting; later ids (in no reference) get log N. */
  private idf = new Float64Array(0);
  private scratch = new Float64Array(0);
  /**
   * Scoring interns each hypothesis's n-grams, so the tables grow over a long run (self-critical
   * training scores millions of sampled captions): past this many ids they are rebuilt from the
   * references alone, which gives the references the same ids and every score the same value.
   */
  private readonly internLimit: number;

  constructor(
    private readonly refs: readonly (readonly string[])[],
    opts: CiderOptions & { internLimit?: number } = {},
  ) {
    this.n = opts.n ?? 4;
    this.sigma = opts.sigma ?? 6;
    this.logN = Math.log(refs.length);
    this.build();
    this.internLimit = opts.internLimit ?? Math.max(4 * this.idf.length, 1 << 20);
  }

  private build(): void {
    this.interner = new NgramInterner();
    const refNg = this.refs.map((rs) => {
      if (rs.length === 0) throw new Error("ciderD: an image needs at least one reference");
      return rs.map((r) => this.interner.sentence(splitWhitespace(r), this.n));
    });
    const size = this.interner.size;
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
    // n-grams absent from every reference have df 0 -> log(max(1, 0)) = 0 -> idf = log(N).
    this.idf = new Float64Array(size);
    for (let id = 0; id < size; id++) this.idf[id] = this.logN - Math.log(Math.max(1, df[id]));
    this.refVecs = refNg.map((rs) => rs.map((ng) => this.toVec(ng)));
    this.scratch = new Float64Array(size);
  }

  /** Ids handed out so far (references' and scored hypotheses'), for tests. */
  get internedSize(): number {
    return this.interner.size;
  }

  private toVec(ng: SentenceNgrams): Vec {
    const weights = new Float64Array(ng.ids.length);
    const norms: number[] = [];
    let length = 0;
    for (let k = 0; k < this.n; k++) {
      let sq = 0;
      for (let j = ng.start[k]; j < ng.start[k + 1]; j++) {
        const id = ng.ids[j];
        const v = ng.counts[j] * (id < this.idf.length ? this.idf[id] : this.logN);
        weights[j] = v;
        sq += v ** 2;
        // The toolkit's "length" accumulates term frequencies of order index 1: bigrams.
        if (k === 1) length += ng.counts[j];
      }
      norms.push(Math.sqrt(sq));
    }
    return { ng, weights, norms, length };
  }

  /** CIDEr-D (x10, as coco-caption) of one tokenised hypothesis against image `image`'s references. */
  score(hyp: string, image: number): number {
    const n = this.n;
    if (this.interner.size > this.internLimit) this.build();
    const vh = this.toVec(this.interner.sentence(splitWhitespace(hyp), n));
    if (this.scratch.length < this.interner.size) this.scratch = new Float64Array(this.interner.size * 2);
    // Reference weights are scattered into an id-indexed scratch array for the dot products.
    const scratch = this.scratch;
    const score = new Array<number>(n).fill(0);
    const refs = this.refVecs[image];
    for (const vr of refs) {
      const rng = vr.ng;
      for (let j = 0; j < rng.ids.length; j++) scratch[rng.ids[j]] = vr.weights[j];
      const delta = vh.length - vr.length;
      const penalty = Math.E ** (-(delta ** 2) / (2 * this.sigma ** 2));
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
    return (mean / refs.length) * 10;
  }
}

/** CIDEr-D of tokenised hypotheses against tokenised references, aligned by index (idf from this set). */
export function ciderD(hyps: readonly string[], refs: readonly (readonly string[])[], opts: CiderOptions = {}): CiderResult {
  if (hyps.length !== refs.length) throw new Error("ciderD: hyps and refs differ in length");
  const scorer = new CiderDScorer(refs, opts);
  const perImage = hyps.map((h, i) => scorer.score(h, i));
  let total = 0;
  for (const s of perImage) total += s;
  return { score: perImage.length ? total / perImage.length : 0, perImage };
}
