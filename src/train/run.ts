/**
 * A full training run on a captioned dataset with precomputed features (`sat train`):
 * vocabulary from the training split, the paper's length-bucketed minibatches, periodic
 * validation by free-running decoding scored with BLEU-4 (optionally of a moving average of
 * the weights), early stopping with patience keeping the best model, atomic checkpoints (at
 * an interval, at the end, and on SIGINT/SIGTERM), `resume` continuing bit for bit, and a
 * JSONL log.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadDataset, type CaptionDataset, type ImageEntry } from "../data/datasets.js";
import { UserError } from "../errors.js";
import { FeatureStore } from "../data/feature-store.js";
import { Vocabulary, START, END } from "../data/vocab.js";
import { captionStoredImages } from "../decode/caption-store.js";
import { DECODE_DEFAULTS } from "../decode/defaults.js";
import { resolveModelConfig, type ModelConfig } from "../model/config.js";
import { DEFAULT_OPTIMIZER, type OptimizerSettings } from "../model/engine.js";
import { createEngine, type EngineChoice } from "../model/engine-factory.js";
import { initParams } from "../model/init.js";
import { paramLayout, view } from "../model/layout.js";
import { loadModel, saveModel, type LoadedModel, type ModelEncoderInfo } from "../model/model-dir.js";
import { scoreCaptions } from "../metrics/index.js";
import { Meteor } from "../metrics/meteor.js";
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { renderTrainingCurves, type TrainingCurves } from "../viz/curves.js";
import { writeFileAtomic } from "../util/fs.js";
import { Trainer, type CaptionCorpus, type StepLog, type StepTrainer } from "./trainer.js";
import { parseReward, SelfCriticalTrainer, withReward, type RewardTerm } from "./self-critical.js";
import { WeightAverage } from "./weight-average.js";

export type ValMetric = "bleu4" | "meteor" | "bleu4+meteor";
export const VAL_METRICS: readonly ValMetric[] = ["bleu4", "meteor", "bleu4+meteor"];
/** How messages name a validation metric. */
export const VAL_METRIC_LABEL: Record<ValMetric, string> = { bleu4: "BLEU-4", meteor: "METEOR", "bleu4+meteor": "BLEU-4 + METEOR" };

export interface TrainRunOptions {
  data: string;
  features: string;
  out: string;
  /** Model config fields to override (sizes, attention, dropout, alphaC, ...). */
  model: Partial<Omit<ModelConfig, "vocabSize" | "featureDim" | "numLocations">>;
  /** Vocabulary: the top-K words of the training split (K counts the 4 special tokens). */
  vocabSize: number;
  batchSize: number;
  optimizer: OptimizerSettings;
  epochs: number;
  /** Stop after this many steps in total (0 = no limit). */
  maxSteps: number;
  /** Validate every this many steps. */
  valEvery: number;
  /** Validate on at most this many validation images (0 = all). */
  valImages: number;
  beamWidth: number;
  /** Validation beam search ranks by log p / length^a (0 = plain log p), as `sat eval --length-penalty`. */
  lengthPenalty: number;
  /**
   * What validation selects best/ (and counts patience) by: corpus BLEU-4 (with BP, the
   * default), METEOR, or their sum (both are what the Flickr8k acceptance asks for).
   */
  valMetric: ValMetric;
  /** Stop after this many validations without a better validation score (0 = never). */
  patience: number;
  checkpointEvery: number;
  /** Learning-rate schedule: constant, step (× lrDecay every lrDecayEvery steps), or cosine to 0 over the run. */
  lrSchedule: "constant" | "step" | "cosine";
  lrDecay: number;
  lrDecayEvery: number;
  /**
   * Decay of an exponential moving average of the weights (0 = none). With one, validation
   * decodes and best/ saves the averaged weights; training itself runs on the live ones.
   */
  ema: number;
  seed: number;
  resume: boolean;
  /**
   * Start from this model directory's weights and vocabulary instead of a random
   * initialisation (e.g. hard attention from a soft-attention model). Sizes and the encoder
   * must match; attention type, dropout and the loss coefficients come from `model`.
   * Ignored when resuming (the checkpoint holds the weights).
   */
  init?: string;
  /** Trainer: the gate β's parameters get no update for this many steps (0 = never held). */
  holdGate: number;
  /**
   * Sets the gate's bias b_beta of the starting weights (random or --init) to this value, e.g. 3
   * for β ≈ 0.95 with --hold-gate; ignored when resuming. Undefined: the weights' own.
   */
  gateBias?: number;
  /**
   * xent: the paper's objective (cross-entropy; for hard attention the REINFORCE bound).
   * self-critical: fine-tune a trained model (--init) on a sentence reward (CIDEr-D, METEOR)
   * of its own sampled captions (src/train/self-critical.ts), a departure from the paper.
   */
  objective: "xent" | "self-critical";
  /** self-critical: captions sampled per image; a minibatch holds batchSize / samples images. */
  samples: number;
  /** self-critical: the sentence reward, e.g. "cider" or "cider+meteor" (parseReward). */
  reward: string;
  engine: EngineChoice;
  onStep?: (log: StepLog, trainer: StepTrainer) => void;
  onValidation?: (v: ValidationResult) => void;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainRunOptions, "data" | "features" | "out"> = {
  model: {},
  vocabSize: 10000,
  batchSize: 64,
  // The paper trained Flickr8k with RMSProp.
  optimizer: { ...DEFAULT_OPTIMIZER, kind: "rmsprop", lr: 1e-3, clipNorm: 5 },
  epochs: 20,
  maxSteps: 0,
  valEvery: 500,
  valImages: 0,
  beamWidth: DECODE_DEFAULTS.beamWidth,
  lengthPenalty: DECODE_DEFAULTS.lengthPenalty,
  valMetric: "bleu4",
  patience: 5,
  checkpointEvery: 500,
  lrSchedule: "constant",
  lrDecay: 0.5,
  lrDecayEvery: 5000,
  ema: 0,
  seed: 1,
  resume: false,
  holdGate: 0,
  objective: "xent",
  samples: 5,
  reward: "cider",
  engine: "auto",
};

/** How many steps the run is planned to take: the epochs, capped by maxSteps when set. */
export function plannedSteps(o: Pick<TrainRunOptions, "epochs" | "maxSteps">, batchesPerEpoch: number): number {
  const epochSteps = o.epochs * batchesPerEpoch;
  return o.maxSteps > 0 ? Math.min(o.maxSteps, epochSteps) : epochSteps;
}

/** The learning rate of step `step` (1-based) of `totalSteps`; a pure function, so resume needs no state. */
export function scheduledLr(base: number, step: number, totalSteps: number, o: Pick<TrainRunOptions, "lrSchedule" | "lrDecay" | "lrDecayEvery">): number {
  if (o.lrSchedule === "step") return base * Math.pow(o.lrDecay, Math.floor((step - 1) / o.lrDecayEvery));
  if (o.lrSchedule === "cosine") return 0.5 * base * (1 + Math.cos((Math.PI * Math.min(step - 1, totalSteps)) / Math.max(1, totalSteps)));
  return base;
}

export interface ValidationResult {
  step: number;
  epoch: number;
  bleu4: number;
  bleu4NoBp: number;
  /** Computed when the validation metric includes it. */
  meteor?: number;
  /** The value of the validation metric (what selects best/). */
  score: number;
  best: number;
  improved: boolean;
  seconds: number;
}

export interface TrainRunResult {
  steps: number;
  /** Best validation score (of valMetric); -1 when nothing was validated. */
  bestScore: number;
  bestDir: string;
  checkpointDir: string;
  stoppedBy: "epochs" | "max-steps" | "patience" | "signal";
}

function usable(ds: CaptionDataset, store: FeatureStore, split: string): ImageEntry[] {
  return ds.images.filter((im) => im.split === split && im.captions.length > 0 && store.has(im.id));
}

/** A model to start from: it must describe features like the store's. */
function loadInitModel(dir: string, store: FeatureStore): LoadedModel {
  const m = loadModel(dir);
  const id = m.meta.encoder.identity;
  if (id && (id.name !== store.encoder.name || id.modelSha256 !== store.encoder.modelSha256 || id.layer !== store.encoder.layer)) {
    throw new UserError(`--init ${dir}: the model was trained on features of ${id.name} (${id.layer}), the store holds ${store.encoder.name} (${store.encoder.layer})`);
  }
  return m;
}

function checkInitSizes(m: LoadedModel, config: ModelConfig, dir: string): void {
  for (const f of ["embedDim", "hiddenDim", "attnDim", "featureDim", "numLocations"] as const) {
    if (m.meta.config[f] !== config[f]) throw new UserError(`--init ${dir}: ${f} is ${m.meta.config[f]} there but ${config[f]} in this run's config`);
  }
}

/** Self-critical sampling: words per caption at most, as beam search's default. */
const SAMPLE_MAX_WORDS = DECODE_DEFAULTS.maxLength;

export async function runTraining(o: TrainRunOptions): Promise<TrainRunResult> {
  let rewardTerms: RewardTerm[] = [];
  if (o.objective === "self-critical") {
    // Flag errors before the dataset and features load.
    if (o.samples < 2) throw new UserError(`--samples ${o.samples}: self-critical training needs at least 2 captions per image (each one's baseline is the others' mean reward)`);
    try {
      rewardTerms = parseReward(o.reward);
    } catch (e) {
      throw new UserError(`--reward ${o.reward}: ${(e as Error).message}`);
    }
    if (!o.resume && !o.init) throw new UserError("--objective self-critical fine-tunes a trained model: pass --init <model>");
  }
  const ds = loadDataset(o.data);
  const store = FeatureStore.open(o.features);
  const train = usable(ds, store, "train");
  const val = usable(ds, store, "val").slice(0, o.valImages > 0 ? o.valImages : undefined);
  if (train.length === 0) throw new Error(`${o.data}: no training images with features in ${o.features}`);
  mkdirSync(o.out, { recursive: true });
  const ckptDir = join(o.out, "checkpoint");
  const bestDir = join(o.out, "best");
  const logPath = join(o.out, "log.jsonl");
  const log = (entry: Record<string, unknown>) => appendFileSync(logPath, JSON.stringify(entry) + "\n");
  // Curves are redrawn from the whole log (a resumed run's earlier steps included).
  const drawCurves = () => {
    const c: TrainingCurves = { loss: [], bleu4: [], entropy: [] };
    for (const line of readFileSync(logPath, "utf8").split("\n")) {
      if (!line) continue;
      const e = JSON.parse(line) as { type: string; step: number; nllPerWord?: number; entropy?: number; bleu4?: number };
      if (e.type === "step") {
        c.loss.push({ step: e.step, value: e.nllPerWord! });
        c.entropy.push({ step: e.step, value: e.entropy! });
      } else if (e.type === "validation") c.bleu4.push({ step: e.step, value: e.bleu4! });
    }
    writeFileAtomic(join(o.out, "curves.svg"), renderTrainingCurves(c));
  };

  const ckpt = o.resume && (existsSync(ckptDir) || existsSync(`${ckptDir}.old`)) ? loadCheckpoint(ckptDir) : null;
  if (o.resume && !ckpt) throw new Error(`${ckptDir}: nothing to resume (no checkpoint)`);
  // The weight average is part of the run's state: a resumed run keeps the same one.
  const averaged = ckpt?.average?.decay ?? 0;
  if (ckpt && averaged !== o.ema) throw new UserError(`${ckptDir}: the run was ${averaged ? `averaging weights with --ema ${averaged}` : "started without --ema"}; resume it with ${averaged ? `--ema ${averaged}` : "no --ema"}`);
  const init = !ckpt && o.init ? loadInitModel(o.init, store) : null;
  const vocab = ckpt ? ckpt.model.vocab : init ? init.vocab : Vocabulary.build(train.flatMap((im) => im.captions), { maxSize: o.vocabSize });
  const config = ckpt
    ? ckpt.model.meta.config
    : resolveModelConfig({ ...o.model, vocabSize: vocab.size, featureDim: store.D, numLocations: store.L });
  if (init) checkInitSizes(init, config, o.init!);
  const grid = Math.round(Math.sqrt(store.L));
  const encoder: ModelEncoderInfo = {
    spec: null,
    name: store.encoder.name,
    grid: [grid, store.L / grid],
    L: store.L,
    D: store.D,
    identity: store.encoder,
  };
  // The store's encoder identity says which network made the features; the spec to rebuild
  // it is the default ResNet-50 unless the identity names another.
  if (store.encoder.name.startsWith("resnet50")) encoder.spec = { kind: "resnet50", layer: store.encoder.layer };

  const captionImage: number[] = [];
  const captionTokens: Int32Array[] = [];
  train.forEach((im, i) =>
    im.captions.forEach((c) => {
      captionImage.push(i);
      captionTokens.push(Int32Array.from(vocab.encode(c).slice(0, -1)));
    }),
  );
  const corpus: CaptionCorpus = {
    numImages: train.length,
    readFeatures: (image, out, offset) => void store.read(train[image].id, out, offset),
    captionImage: Int32Array.from(captionImage),
    captionTokens,
  };
  const startParams = ckpt ? ckpt.model.params : init ? init.params : initParams(config, o.seed);
  if (!ckpt && o.gateBias !== undefined) view(startParams, paramLayout(config), "b_beta")[0] = o.gateBias;
  const engine = createEngine(config, startParams, o.engine);
  if (init) log({ type: "init", from: o.init, attention: init.meta.config.attention });
  if (o.holdGate > 0 || o.gateBias !== undefined) log({ type: "gate", holdSteps: o.holdGate, bias: ckpt ? null : (o.gateBias ?? null) });
  const runObjective = ckpt ? String(ckpt.extra.objective ?? "xent") : o.objective;
  if (ckpt && runObjective !== o.objective) throw new UserError(`${ckptDir}: the run was started with --objective ${runObjective}; resume it with that`);
  const runValMetric = ckpt ? String(ckpt.extra.valMetric ?? "bleu4") : o.valMetric;
  if (ckpt && runValMetric !== o.valMetric) throw new UserError(`${ckptDir}: the run selects by --val-metric ${runValMetric}; resume it with that`);
  const optimizer = { ...(ckpt ? ckpt.optimizer : o.optimizer) };
  // One METEOR scorer per run, made when first needed (a METEOR reward or validation metric):
  // it loads WordNet.
  let meteorScorer: Meteor | undefined;
  const sharedMeteor = (): Meteor => (meteorScorer ??= new Meteor());
  const trainer: StepTrainer =
    o.objective === "self-critical"
      ? new SelfCriticalTrainer(engine, withReward(corpus, rewardTerms, vocab.words, END, sharedMeteor), { imagesPerBatch: Math.max(1, Math.floor(o.batchSize / o.samples)), samples: o.samples, maxLength: SAMPLE_MAX_WORDS, seed: o.seed, optimizer, startId: START, endId: END })
      : new Trainer(engine, corpus, { batchSize: o.batchSize, seed: o.seed, optimizer, startId: START, endId: END, holdGateSteps: o.holdGate });
  // The schedule scales the base rate; the trainer's copy holds the current step's rate.
  const baseLr = ckpt ? Number(ckpt.extra.baseLr ?? ckpt.optimizer.lr) : o.optimizer.lr;
  let best = -1;
  let sinceBest = 0;
  if (ckpt) {
    restoreCheckpoint(ckpt, engine, trainer);
    // Checkpoints before --val-metric kept BLEU-4 under bestBleu4.
    best = Number(ckpt.extra.bestScore ?? ckpt.extra.bestBleu4 ?? -1);
    sinceBest = Number(ckpt.extra.sinceBest ?? 0);
  }
  const average = ckpt ? ckpt.average : o.ema > 0 ? new WeightAverage(o.ema, engine.params) : null;

  const checkpoint = () =>
    saveCheckpoint(ckptDir, { engine, trainer, vocab, encoder, average, extra: { bestScore: best, valMetric: o.valMetric, sinceBest, baseLr, objective: runObjective, data: o.data, features: o.features } });

  /** offGrid: the end-of-run validation, which may become best/ but does not count against patience. */
  const validate = (offGrid: boolean): ValidationResult => {
    const started = performance.now();
    const decode = () => captionStoredImages(engine, vocab, store, val.map((im) => im.id), { beamWidth: o.beamWidth, lengthPenalty: o.lengthPenalty });
    const caps = average ? average.withAveraged(engine.params, decode) : decode();
    const hyps: Record<string, string> = {};
    const refs: Record<string, string[]> = {};
    for (const im of val) {
      hyps[im.id] = caps.get(im.id)!;
      refs[im.id] = im.captions;
    }
    const withMeteor = o.valMetric !== "bleu4";
    const sc = scoreCaptions(refs, hyps, { meteor: withMeteor, meteorScorer: withMeteor ? sharedMeteor() : undefined });
    const bleu4 = sc.bleu[3];
    const meteor = withMeteor ? sc.meteor! : undefined;
    const score = (o.valMetric === "meteor" ? 0 : bleu4) + (meteor ?? 0);
    const improved = score > best;
    if (improved) {
      best = score;
      sinceBest = 0;
      saveModel(bestDir, {
        config,
        vocab: vocab.toJSON(),
        encoder,
        training: { step: trainer.step, epoch: trainer.epochProgress, valBleu4: bleu4, ...(meteor !== undefined ? { valMeteor: meteor, valMetric: o.valMetric } : {}), valImages: val.length, data: o.data, ...(average ? { ema: average.decay } : {}) },
        params: Float32Array.from(average ? average.values : engine.params),
      });
    } else if (!offGrid) {
      sinceBest++;
    }
    return { step: trainer.step, epoch: trainer.epochProgress, bleu4, bleu4NoBp: sc.bleu_nobp[3], ...(meteor !== undefined ? { meteor } : {}), score, best, improved, seconds: (performance.now() - started) / 1000 };
  };

  let stop: TrainRunResult["stoppedBy"] | null = null;
  const onSignal = () => {
    stop = "signal";
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const startStep = trainer.step;
  /** Validates, logs, redraws the curves; true when patience has run out. */
  const runValidation = (offGrid = false): boolean => {
    const v = validate(offGrid);
    log({ type: "validation", ...v });
    drawCurves();
    o.onValidation?.(v);
    return o.patience > 0 && sinceBest >= o.patience;
  };
  try {
    const epochSteps = o.epochs * trainer.batchesPerEpoch;
    const totalSteps = plannedSteps(o, trainer.batchesPerEpoch);
    while (!stop) {
      if (o.maxSteps > 0 && trainer.step >= o.maxSteps) {
        stop = "max-steps";
        break;
      }
      if (trainer.step >= epochSteps) {
        stop = "epochs";
        break;
      }
      trainer.settings.optimizer.lr = scheduledLr(baseLr, trainer.step + 1, totalSteps, o);
      const s = trainer.trainStep();
      average?.update(engine.params);
      o.onStep?.(s, trainer);
      log({ type: "step", step: s.step, epoch: trainer.epochProgress, lr: trainer.settings.optimizer.lr, mode: s.mode, loss: s.loss, nllPerWord: s.nllPerWord, entropy: s.attentionEntropy, gradNorm: s.gradNorm, ...(s.reward !== undefined ? { reward: s.reward } : {}), ms: s.ms });
      if (val.length > 0 && trainer.step % o.valEvery === 0 && runValidation()) stop = "patience";
      if (trainer.step % o.checkpointEvery === 0) checkpoint();
      // Let a pending SIGINT/SIGTERM be delivered between steps.
      await new Promise((r) => setImmediate(r));
    }
    // The planned end (epochs or --max-steps) rarely falls on a validation step: validate the
    // final weights too, so the last steps can still become best/. Not on a signal (the user
    // wants out), nor when this invocation trained nothing (resuming a finished run). It does
    // not count against patience, so that resuming with more --epochs/--max-steps continues
    // as the longer run would have (unless it became best/, which the longer run never saw).
    const finished = stop === "epochs" || stop === "max-steps";
    if (finished && val.length > 0 && trainer.step > startStep && trainer.step % o.valEvery !== 0) runValidation(true);
    checkpoint();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    engine.dispose();
    store.close();
  }
  return { steps: trainer.step, bestScore: best, bestDir, checkpointDir: ckptDir, stoppedBy: stop ?? "epochs" };
}
