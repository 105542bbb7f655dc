/**
 * Self-critical sequence training (Rennie et al., 2017), a departure from the paper for
 * fine-tuning a trained model on the metric itself: for each image of a minibatch, sample k
 * captions from the model (expectation attention, dropout off: the inference policy), score
 * each with a sentence reward (CIDEr-D and/or METEOR against the image's training
 * references), and take a REINFORCE step on −(r_i − b_i) log p(caption_i), where b_i is the
 * mean reward of the image's other k − 1 samples (the "new self-critical" baseline: no greedy
 * decode needed).
 *
 * The engine's teacher-forced pass does the gradient: its mask weights each word's
 * cross-entropy, so a mask of (r_i − b_i) on caption i's words gives exactly that gradient.
 * Order is deterministic per (seed, epoch), sampling per (seed, step): resume is bit for bit.
 */
import type { DecoderEngine, OptimizerSettings, StepMode, TrainBatch } from "../model/engine.js";
import { hash32, SeededRandom } from "../util/rng.js";
import { sampleDecode } from "../decode/sample.js";
import { CiderDScorer } from "../metrics/cider.js";
import { Meteor, meteorScore } from "../metrics/meteor.js";
import { START, END } from "../data/vocab.js";
import { DECODE_DEFAULTS } from "../decode/defaults.js";
import { UserError } from "../errors.js";
import { teacherForcingRows, type CaptionCorpus, type StepLog } from "./trainer.js";

export interface SelfCriticalSettings {
  /** Images per minibatch; the minibatch holds imagesPerBatch × samples captions. */
  imagesPerBatch: number;
  /** Captions sampled per image (≥ 2: each one's baseline is the mean of the others). */
  samples: number;
  maxLength: number;
  seed: number;
  optimizer: OptimizerSettings;
  startId: number;
  endId: number;
}

export interface SelfCriticalCorpus {
  numImages: number;
  /** Writes image `image`'s [L, D] annotation vectors into out[offset ..]. */
  readFeatures(image: number, out: Float32Array, offset: number): void;
  /** The reward of a caption (word ids, no <start>/<end>; finished: it ended with <end>) for image `image`. */
  reward(image: number, tokens: readonly number[], finished: boolean): number;
}

export type RewardMetric = "cider" | "meteor";
export interface RewardTerm {
  metric: RewardMetric;
  weight: number;
}

/** Parses a reward like "cider", "meteor" or "cider+2*meteor" (a weighted sum of sentence scores). */
export function parseReward(spec: string): RewardTerm[] {
  const terms = spec.split("+").map((part) => {
    const m = /^\s*(?:(\d+(?:\.\d+)?|\.\d+)\s*\*\s*)?(cider|meteor)\s*$/.exec(part);
    if (!m) throw new Error(`cannot read "${part.trim()}": terms are cider or meteor, optionally weighted as 2*meteor`);
    return { metric: m[2] as RewardMetric, weight: m[1] === undefined ? 1 : Number(m[1]) };
  });
  if (new Set(terms.map((t) => t.metric)).size !== terms.length) throw new Error("a metric is named twice");
  if (terms.every((t) => t.weight === 0)) throw new Error("every weight is 0");
  return terms;
}

/**
 * A caption corpus's images with a sentence reward against their own captions: a weighted sum
 * of CIDEr-D (x10, as coco-caption reports it: ~0.2-1 for these captions) and METEOR (0-1).
 * CIDEr-D compares word ids (out-of-vocabulary words all read <unk>, as the model sees them)
 * with <end> appended to finished captions and to the references, so that a caption cut off
 * mid-phrase ("a dog runs in the") misses the n-grams that end a reference; its idf comes from
 * all of the corpus's images, not from the minibatch. METEOR compares the words.
 */
export function withReward(
  corpus: CaptionCorpus,
  terms: readonly RewardTerm[],
  words: readonly string[],
  endId: number,
  /** The METEOR scorer to use (a run shares one with its validation: WordNet loads once). */
  meteor: () => Meteor = () => new Meteor(),
): SelfCriticalCorpus {
  const byImage: Int32Array[][] = Array.from({ length: corpus.numImages }, () => []);
  corpus.captionTokens.forEach((t, ci) => byImage[corpus.captionImage[ci]].push(t));
  const text = (ids: ArrayLike<number>) => Array.from(ids, (id) => words[id]).join(" ");
  const scorers = terms.map(({ metric, weight }) => {
    if (metric === "cider") {
      const cider = new CiderDScorer(byImage.map((caps) => caps.map((t) => `${Array.from(t).join(" ")} ${endId}`)));
      return (image: number, tokens: readonly number[], finished: boolean) => weight * cider.score(finished ? `${tokens.join(" ")} ${endId}` : tokens.join(" "), image);
    }
    const scorer = meteor();
    const refs = byImage.map((caps) => caps.map(text));
    return (image: number, tokens: readonly number[]) => weight * meteorScore(scorer.imageStats(text(tokens), refs[image])).score;
  });
  return {
    numImages: corpus.numImages,
    readFeatures: corpus.readFeatures,
    reward: (image, tokens, finished) => {
      let r = 0;
      for (const f of scorers) r += f(image, tokens, finished);
      return r;
    },
  };
}

/** The run options self-critical training reads. */
export interface SelfCriticalRunOptions {
  batchSize: number;
  samples: number;
  /** The sentence reward, e.g. "cider+meteor" (parseReward). */
  reward: string;
  seed: number;
}

/** Sampled captions are cut at this many words, beam search's default. */
const SAMPLE_MAX_WORDS = DECODE_DEFAULTS.maxLength;

/** The flags' errors, found before a run loads its data: the reward's terms. */
export function checkSelfCriticalOptions(o: Pick<SelfCriticalRunOptions, "samples" | "reward">): RewardTerm[] {
  if (o.samples < 2) throw new UserError(`--samples ${o.samples}: self-critical training needs at least 2 captions per image (each one's baseline is the others' mean reward)`);
  try {
    return parseReward(o.reward);
  } catch (e) {
    throw new UserError(`--reward ${o.reward}: ${(e as Error).message}`);
  }
}

export interface SelfCriticalState {
  objective: "self-critical";
  step: number;
  epoch: number;
  batch: number;
}

export class SelfCriticalTrainer {
  step = 0;
  epoch = 0;
  batchInEpoch = 0;
  private order: Int32Array | null = null;
  private readonly LD: number;
  private features: Float32Array;
  private rowFeatures: Float32Array;

  /**
   * The trainer of a `sat train --objective self-critical` run, from the run's options: a
   * minibatch holds batchSize / samples images; `meteor` is the run's shared METEOR scorer.
   */
  static forRun(engine: DecoderEngine, corpus: CaptionCorpus, words: readonly string[], o: SelfCriticalRunOptions, optimizer: OptimizerSettings, meteor: () => Meteor): SelfCriticalTrainer {
    const rewarded = withReward(corpus, checkSelfCriticalOptions(o), words, END, meteor);
    const imagesPerBatch = Math.max(1, Math.floor(o.batchSize / o.samples));
    return new SelfCriticalTrainer(engine, rewarded, { imagesPerBatch, samples: o.samples, maxLength: SAMPLE_MAX_WORDS, seed: o.seed, optimizer, startId: START, endId: END });
  }

  constructor(
    readonly engine: DecoderEngine,
    readonly corpus: SelfCriticalCorpus,
    readonly settings: SelfCriticalSettings,
  ) {
    if (!(Number.isInteger(settings.samples) && settings.samples >= 2)) throw new Error(`self-critical training needs at least 2 samples per image (got ${settings.samples})`);
    if (!(Number.isInteger(settings.imagesPerBatch) && settings.imagesPerBatch >= 1)) throw new Error(`imagesPerBatch must be a positive integer (got ${settings.imagesPerBatch})`);
    this.LD = engine.config.numLocations * engine.config.featureDim;
    this.features = new Float32Array(settings.imagesPerBatch * this.LD);
    this.rowFeatures = new Float32Array(settings.imagesPerBatch * settings.samples * this.LD);
  }

  /** Minibatches per pass over the images (the last one may be smaller). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.corpus.numImages / this.settings.imagesPerBatch);
  }

  get epochProgress(): number {
    return this.epoch + this.batchInEpoch / this.batchesPerEpoch;
  }

  /** The images of the next minibatch: a fresh permutation per epoch, fixed by (seed, epoch). */
  private nextImages(): Int32Array {
    if (this.batchInEpoch >= this.batchesPerEpoch) {
      this.epoch += 1;
      this.batchInEpoch = 0;
      this.order = null;
    }
    if (!this.order) {
      const idx = Array.from({ length: this.corpus.numImages }, (_, i) => i);
      this.order = Int32Array.from(new SeededRandom(hash32((this.settings.seed ^ 0x51c7a1) + this.epoch)).shuffle(idx));
    }
    const n = this.settings.imagesPerBatch;
    const from = this.batchInEpoch++ * n;
    return this.order.subarray(from, Math.min(from + n, this.order.length));
  }

  trainStep(): StepLog {
    const started = performance.now();
    const cfg = this.engine.config;
    const images = this.nextImages();
    this.step += 1;
    const nImg = images.length;
    const k = this.settings.samples;
    const N = nImg * k;
    const LD = this.LD;
    const features = this.features.subarray(0, nImg * LD);
    images.forEach((im, i) => this.corpus.readFeatures(im, features, i * LD));
    const rowImage = Int32Array.from({ length: N }, (_, r) => Math.floor(r / k));
    const rng = new SeededRandom(hash32((this.settings.seed + this.step) >>> 0) ^ 0x3c6ef372);
    const sampled = sampleDecode(this.engine, features, nImg, rowImage, rng, this.settings);

    const rewards = sampled.captions.map((c, r) => this.corpus.reward(images[rowImage[r]], c.tokens, c.finished));
    const advantage = new Float64Array(N);
    for (let i = 0; i < nImg; i++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += rewards[i * k + j];
      for (let j = 0; j < k; j++) advantage[i * k + j] = rewards[i * k + j] - (sum - rewards[i * k + j]) / (k - 1);
    }

    // Teacher-forced pass over the sampled captions, each word's loss weighted by its caption's advantage.
    const { T, inputs, targets, mask, lengths } = teacherForcingRows(sampled.captions, this.settings.startId, this.settings.endId);
    for (let r = 0; r < N; r++) for (let t = 0; t < T; t++) mask[r * T + t] *= advantage[r];
    if (this.rowFeatures.length < N * LD) this.rowFeatures = new Float32Array(N * LD);
    const rowFeatures = this.rowFeatures.subarray(0, N * LD);
    for (let r = 0; r < N; r++) rowFeatures.set(features.subarray(rowImage[r] * LD, (rowImage[r] + 1) * LD), r * LD);
    const batch: TrainBatch = { B: N, T, features: rowFeatures, inputs, targets, mask };
    // Hard-attention models run on the expectation here, as they do at inference.
    const mode: StepMode = cfg.attention === "hard" ? "hard-expect" : "soft";
    const res = this.engine.forwardBackward(batch, { mode, dropout: 0, seed: 0, alphaC: 0, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: true });
    if (!Number.isFinite(res.loss)) throw new Error(`training diverged at step ${this.step}: loss is ${res.loss}`);
    const gradNorm = this.engine.optimizerStep(this.settings.optimizer, this.step);

    const words = lengths.reduce((s, n) => s + n, 0);
    const logProb = sampled.captions.reduce((s, c) => s + c.logProb, 0);
    const meanReward = rewards.reduce((s, x) => s + x, 0) / N;
    return {
      step: this.step,
      mode,
      // The surrogate's value: −(1/N) Σ advantage · log p.
      loss: res.loss,
      nll: -logProb / N,
      nllPerWord: -logProb / Math.max(1, words),
      penalty: 0,
      attentionEntropy: sampled.attentionEntropy,
      baseline: meanReward,
      reward: meanReward,
      gradNorm,
      captions: N,
      ms: performance.now() - started,
    };
  }

  getState(): SelfCriticalState {
    return { objective: "self-critical", step: this.step, epoch: this.epoch, batch: this.batchInEpoch };
  }

  setState(s: SelfCriticalState): void {
    if (s.objective !== "self-critical") throw new Error("the checkpoint is not of a self-critical run");
    this.step = s.step;
    this.epoch = s.epoch;
    this.batchInEpoch = s.batch;
    this.order = null;
  }
}
