/**
 * The training step loop: draws a length-bucketed minibatch, runs the engine's fused
 * forward/backward, keeps the REINFORCE baseline, and applies the optimiser. Engine-agnostic:
 * the same loop drives the native and the reference implementation.
 */
import type { DecoderEngine, OptimizerSettings, StepMode, TrainBatch } from "../model/engine.js";
import { hash32, SeededRandom } from "../util/rng.js";
import { BucketBatchSampler } from "../data/buckets.js";
import { START, END } from "../data/vocab.js";
import { paramLayout, view, type ParamLayout } from "../model/layout.js";

/** Captions (as word ids) over images whose annotation vectors can be read one at a time. */
export interface CaptionCorpus {
  numImages: number;
  /** Writes image `image`'s [L, D] annotation vectors into out[offset ..]. */
  readFeatures(image: number, out: Float32Array, offset: number): void;
  /** For each caption: its image index. */
  captionImage: Int32Array;
  /** For each caption: word ids without <start>/<end>. */
  captionTokens: Int32Array[];
}

export interface TrainerSettings {
  batchSize: number;
  seed: number;
  optimizer: OptimizerSettings;
  startId: number;
  endId: number;
  /**
   * For the first n steps the gate β's parameters (w_beta, b_beta) get no update. Hard
   * attention from scratch needs it: while attention is still uniform a sampled location
   * tells the decoder nothing, it learns to close the gate, and a closed gate starves α of
   * gradient (docs/model.md §Optional baseline settings).
   */
  holdGateSteps?: number;
}

export interface StepLog {
  step: number;
  mode: StepMode;
  loss: number;
  /** NLL per caption (summed over its words). */
  nll: number;
  /** NLL per word. */
  nllPerWord: number;
  penalty: number;
  attentionEntropy: number;
  baseline: number;
  gradNorm: number;
  /** Self-critical training: mean reward of the sampled captions. */
  reward?: number;
  captions: number;
  ms: number;
}

/** What the run loop (run.ts) drives: the cross-entropy/REINFORCE trainer or the self-critical one. */
export interface StepTrainer {
  readonly settings: { optimizer: OptimizerSettings };
  readonly step: number;
  readonly epochProgress: number;
  readonly batchesPerEpoch: number;
  trainStep(): StepLog;
  getState(): object;
  setState(s: object): void;
}

export interface TrainerState {
  step: number;
  baseline: number;
  /** config.baselinePerLength: caption length -> baseline, and the per-word average that starts a new length. Absent in older checkpoints. */
  baselineByLength?: Record<string, number>;
  baselinePerWord?: number;
  /** Position in the sampler's deterministic epochs: the next batch is epoch[epoch][batch]. */
  epoch: number;
  batch: number;
  modeRng: { state: number; spare: number | null };
}

/**
 * Teacher-forcing rows for captions of any lengths: inputs <start> w_1 .. w_{T-1}, targets
 * w_1 .. (then <end> when the caption finished), T the longest row, mask 1 on each row's
 * targets and 0 on its padding. lengths[r] = row r's number of targets.
 */
export function teacherForcingRows(captions: readonly { tokens: ArrayLike<number>; finished: boolean }[], startId: number, endId: number) {
  const lengths = captions.map((c) => c.tokens.length + (c.finished ? 1 : 0));
  const T = Math.max(1, ...lengths);
  const B = captions.length;
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  captions.forEach((c, r) => {
    inputs[r * T] = startId;
    for (let t = 0; t < lengths[r]; t++) {
      const w = t < c.tokens.length ? c.tokens[t] : endId;
      targets[r * T + t] = w;
      if (t + 1 < T) inputs[r * T + t + 1] = w;
      mask[r * T + t] = 1;
    }
  });
  return { T, inputs, targets, mask, lengths };
}

/** Mean of a minibatch's per-caption log p (what the REINFORCE baseline tracks). */
function meanOf(logProb: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < logProb.length; i++) mean += logProb[i] / logProb.length;
  return mean;
}

export class Trainer {
  readonly sampler: BucketBatchSampler;
  step = 0;
  epoch = 0;
  /** Index of the next batch within the current epoch. */
  batchInEpoch = 0;
  private epochBatches: number[][] | null = null;
  /** REINFORCE baseline b (moving average of log p over minibatches). */
  baseline = 0;
  /** With config.baselinePerLength: one b per caption length T (minibatches are of one length). */
  private baselineByLength = new Map<number, number>();
  /** Moving average of log p per word, to start each length's baseline. */
  private baselinePerWord = 0;
  private readonly modeRng: SeededRandom;
  private readonly L: number;
  private readonly D: number;
  private features: Float32Array;
  private readonly layout: ParamLayout;

  /** The trainer of a `sat train` run with the paper's objective, from the run's options. */
  static forRun(engine: DecoderEngine, corpus: CaptionCorpus, o: { batchSize: number; seed: number; holdGate: number }, optimizer: OptimizerSettings): Trainer {
    return new Trainer(engine, corpus, { batchSize: o.batchSize, seed: o.seed, optimizer, startId: START, endId: END, holdGateSteps: o.holdGate });
  }

  constructor(
    readonly engine: DecoderEngine,
    readonly corpus: CaptionCorpus,
    readonly settings: TrainerSettings,
  ) {
    const c = engine.config;
    this.L = c.numLocations;
    this.D = c.featureDim;
    // +1: each caption is followed by <end>, which is predicted too.
    this.sampler = new BucketBatchSampler(
      corpus.captionTokens.map((t) => t.length + 1),
      { batchSize: settings.batchSize, seed: settings.seed },
    );
    this.modeRng = new SeededRandom(hash32(settings.seed ^ 0x2545f491));
    this.features = new Float32Array(settings.batchSize * this.L * this.D);
    this.layout = paramLayout(c);
  }

  /** Assembles a teacher-forcing batch for the given caption indices (all of one length). */
  makeBatch(captions: number[]): TrainBatch {
    const B = captions.length;
    const LD = this.L * this.D;
    if (this.features.length < B * LD) this.features = new Float32Array(B * LD);
    const features = this.features.subarray(0, B * LD);
    const words = captions.map((ci) => this.corpus.captionTokens[ci]);
    if (words.some((w) => w.length !== words[0].length)) throw new Error("makeBatch: captions of one minibatch must share a length");
    captions.forEach((ci, b) => this.corpus.readFeatures(this.corpus.captionImage[ci], features, b * LD));
    const { T, inputs, targets, mask } = teacherForcingRows(words.map((tokens) => ({ tokens, finished: true })), this.settings.startId, this.settings.endId);
    return { B, T, features, inputs, targets, mask };
  }

  /** One optimiser step on the next minibatch. */
  trainStep(): StepLog {
    const started = performance.now();
    const cfg = this.engine.config;
    const batch = this.makeBatch(this.nextCaptions());
    this.step += 1;
    let mode: StepMode = "soft";
    if (cfg.attention === "hard") mode = this.modeRng.next() < cfg.expectationProb ? "hard-expect" : "hard-sample";
    const seed = hash32((this.settings.seed + this.step) >>> 0);
    if (cfg.attention === "hard" && cfg.baselineWarmStart && this.step === 1) {
      // Measure log p on this very minibatch (expectation, same dropout mask) before its update.
      const probe = this.engine.forwardBackward(batch, { mode: "hard-expect", dropout: cfg.dropout, seed, alphaC: cfg.alphaC, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: false });
      const mean = meanOf(probe.logProb);
      this.baseline = mean;
      this.baselinePerWord = mean / batch.T;
    }
    // A length's first minibatch starts from the global baseline rescaled to its length
    // (log p grows about linearly with it) rather than from 0.
    const lengthBaseline = cfg.baselinePerLength ? (this.baselineByLength.get(batch.T) ?? this.baselinePerWord * batch.T) : 0;
    const res = this.engine.forwardBackward(batch, {
      mode,
      dropout: cfg.dropout,
      seed,
      alphaC: cfg.alphaC,
      reinforceWeight: cfg.reinforceWeight,
      entropyWeight: cfg.entropyWeight,
      baseline: cfg.baselinePerLength ? lengthBaseline : this.baseline,
      computeGrad: true,
    });
    if (!Number.isFinite(res.loss)) throw new Error(`training diverged at step ${this.step}: loss is ${res.loss}`);
    // The baseline moves every minibatch, expectation minibatches included (docs/model.md §Baseline).
    if (cfg.attention === "hard") {
      const mean = meanOf(res.logProb);
      this.baseline = cfg.baselineDecay * this.baseline + (1 - cfg.baselineDecay) * mean;
      if (cfg.baselinePerLength) {
        this.baselinePerWord = cfg.baselineDecay * this.baselinePerWord + (1 - cfg.baselineDecay) * (mean / batch.T);
        this.baselineByLength.set(batch.T, cfg.baselineDecay * lengthBaseline + (1 - cfg.baselineDecay) * mean);
      }
    }
    if (this.step <= (this.settings.holdGateSteps ?? 0)) {
      // Zero gradients keep Adam's and RMSProp's update of these slots at 0 while their moments
      // are 0, i.e. from step 1; decoupled weight decay, when on, still shrinks them.
      view(this.engine.grads, this.layout, "w_beta").fill(0);
      view(this.engine.grads, this.layout, "b_beta").fill(0);
    }
    const gradNorm = this.engine.optimizerStep(this.settings.optimizer, this.step);
    return {
      step: this.step,
      mode,
      loss: res.loss,
      nll: res.nll,
      nllPerWord: (res.nll * batch.B) / Math.max(1, res.tokens),
      penalty: res.penalty,
      attentionEntropy: res.attentionEntropy,
      baseline: this.baseline,
      gradNorm,
      captions: batch.B,
      ms: performance.now() - started,
    };
  }

  get batchesPerEpoch(): number {
    return this.sampler.batchesPerEpoch;
  }

  /** Fractional epochs done so far. */
  get epochProgress(): number {
    return this.epoch + this.batchInEpoch / this.sampler.batchesPerEpoch;
  }

  private nextCaptions(): number[] {
    if (!this.epochBatches) this.epochBatches = this.sampler.epoch(this.epoch);
    if (this.batchInEpoch >= this.epochBatches.length) {
      this.epoch += 1;
      this.batchInEpoch = 0;
      this.epochBatches = this.sampler.epoch(this.epoch);
    }
    return this.epochBatches[this.batchInEpoch++];
  }

  getState(): TrainerState {
    const byLength: Record<string, number> = {};
    for (const [T, b] of this.baselineByLength) byLength[T] = b;
    return { step: this.step, baseline: this.baseline, baselineByLength: byLength, baselinePerWord: this.baselinePerWord, epoch: this.epoch, batch: this.batchInEpoch, modeRng: this.modeRng.getState() };
  }

  setState(s: TrainerState): void {
    this.step = s.step;
    this.baseline = s.baseline;
    this.baselineByLength = new Map(Object.entries(s.baselineByLength ?? {}).map(([T, b]) => [Number(T), b]));
    this.baselinePerWord = s.baselinePerWord ?? 0;
    this.epoch = s.epoch;
    this.batchInEpoch = s.batch;
    this.epochBatches = null;
    this.modeRng.setState(s.modeRng);
  }
}
