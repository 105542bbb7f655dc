/**
 * What a training run (`sat train`) is asked to do: its options with their defaults, and the
 * learning-rate schedule they describe.
 */
import type { ModelConfig } from "../model/config.js";
import { DEFAULT_OPTIMIZER, type OptimizerSettings } from "../model/engine.js";
import { DECODE_DEFAULTS } from "../decode/defaults.js";
import type { EngineChoice } from "../engine/select.js";
import type { StepLog, StepTrainer } from "./trainer.js";
import type { ValidationResult } from "./validation.js";

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
  /** Something the run repaired or could not check (default: printed to stderr). */
  onWarning?: (message: string) => void;
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

export interface TrainRunResult {
  steps: number;
  /** Best validation score (of valMetric); -1 when nothing was validated. */
  bestScore: number;
  bestDir: string;
  checkpointDir: string;
  stoppedBy: "epochs" | "max-steps" | "patience" | "signal";
}

