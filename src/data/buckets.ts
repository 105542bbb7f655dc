/**
 * Caption lengths: statistics per split, length buckets, and the paper's minibatch sampler
 * (Sec. 4.3): every minibatch holds B captions of one length, so no padding is needed, and
 * the length of the next minibatch is drawn in proportion to how many captions have it.
 *
 * Lengths here are T = tokens + 1 (`<end>` included), the decoder's number of steps.
 */
import { SeededRandom } from "../util/rng.js";
import { SPLITS, type CaptionDataset, type Split } from "./datasets.js";
import { tokenize } from "./tokenize.js";

export interface LengthStats {
  captions: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  /** histogram[T] = captions of length T (T = tokens + 1). */
  histogram: Record<number, number>;
}

/** Summary of caption lengths T (tokens + `<end>`). */
export function lengthStats(lengths: ArrayLike<number>): LengthStats {
  const a = Array.from(lengths).sort((x, y) => x - y);
  const histogram: Record<number, number> = {};
  for (const t of a) histogram[t] = (histogram[t] ?? 0) + 1;
  const q = (p: number) => (a.length ? a[Math.min(a.length - 1, Math.floor(p * (a.length - 1) + 0.5))] : 0);
  return {
    captions: a.length,
    min: a.length ? a[0] : 0,
    max: a.length ? a[a.length - 1] : 0,
    mean: a.length ? a.reduce((s, t) => s + t, 0) / a.length : 0,
    median: q(0.5),
    p95: q(0.95),
    histogram,
  };
}

/** Caption indices grouped by length, lengths ascending. */
export function lengthBuckets(lengths: ArrayLike<number>): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (let i = 0; i < lengths.length; i++) {
    const t = lengths[i];
    let b = m.get(t);
    if (!b) m.set(t, (b = []));
    b.push(i);
  }
  return new Map([...m.entries()].sort((x, y) => x[0] - y[0]));
}

export interface BucketSamplerOptions {
  batchSize: number;
  seed: number;
  /** Captions longer than this (T) are left out of training; default: none. */
  maxLength?: number;
  /** Drop each length's last, smaller batch (default false: it is kept). */
  dropLast?: boolean;
}

/**
 * Epochs of single-length minibatches. Within an epoch every caption appears once: each
 * length's captions are shuffled and cut into batches of B, then all batches are shuffled
 * together. A batch slot therefore has length T with probability (batches of length T) /
 * (all batches), i.e. in proportion to T's caption count, as in the paper, while no caption
 * is seen twice before all have been seen once. Deterministic given the seed and epoch.
 */
export class BucketBatchSampler {
  readonly buckets: Map<number, number[]>;
  readonly batchSize: number;
  private readonly seed: number;
  private readonly dropLast: boolean;

  constructor(lengths: ArrayLike<number>, opts: BucketSamplerOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`batchSize must be a positive integer (got ${opts.batchSize})`);
    this.batchSize = opts.batchSize;
    this.seed = opts.seed >>> 0;
    this.dropLast = opts.dropLast ?? false;
    const all = lengthBuckets(lengths);
    if (opts.maxLength !== undefined) for (const t of [...all.keys()]) if (t > opts.maxLength) all.delete(t);
    this.buckets = all;
  }

  /** Number of batches per epoch. */
  get batchesPerEpoch(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += this.dropLast ? Math.floor(b.length / this.batchSize) : Math.ceil(b.length / this.batchSize);
    return n;
  }

  /** The batches of epoch `epoch` (0-based), each an array of caption indices of one length. */
  epoch(epoch: number): number[][] {
    // One generator per epoch, so resuming at epoch k needs no replay of epochs 0..k-1.
    const rng = new SeededRandom((this.seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
    const batches: number[][] = [];
    for (const idx of this.buckets.values()) {
      const order = rng.shuffle([...idx]);
      for (let s = 0; s < order.length; s += this.batchSize) {
        const b = order.slice(s, s + this.batchSize);
        if (this.dropLast && b.length < this.batchSize) break;
        batches.push(b);
      }
    }
    return rng.shuffle(batches);
  }
}

/** T = tokens + 1 (`<end>`) of one caption under the training tokeniser. */
export function captionLength(caption: string): number {
  return tokenize(caption).length + 1;
}

/** Caption length statistics of every split of a dataset. */
export function lengthStatsBySplit(ds: CaptionDataset): Record<Split, LengthStats> {
  const by = Object.fromEntries(SPLITS.map((s) => [s, [] as number[]])) as Record<Split, number[]>;
  for (const im of ds.images) for (const c of im.captions) by[im.split].push(captionLength(c));
  return Object.fromEntries(SPLITS.map((s) => [s, lengthStats(by[s])])) as Record<Split, LengthStats>;
}
