/**
 * The interface both decoder implementations provide (docs/engine.md): the TypeScript
 * reference (src/model/reference.ts) and the native addon (src/native/engine.ts).
 */
import type { ModelConfig } from "./config.js";

export type FloatArray = Float32Array | Float64Array;

/** One minibatch of captions (teacher forcing). Shapes as in docs/engine.md. */
export interface TrainBatch {
  B: number;
  T: number;
  /** [B, L, D] annotation vectors, one row per caption. */
  features: Float32Array;
  /** [B, T] y_{t-1}; inputs[b, 0] = <start>. */
  inputs: Int32Array;
  /** [B, T] y_t. */
  targets: Int32Array;
  /** [B, T] 1 for a real target, 0 for padding; a linear weight on each target's loss (self-critical training: the caption's advantage). */
  mask: Float32Array;
}

export type StepMode = "soft" | "hard-sample" | "hard-expect";

export interface StepOptions {
  mode: StepMode;
  /** Dropout probability (0 disables dropout, as in evaluation). */
  dropout: number;
  /** uint32 seed of this step's random streams (dropout mask, sampled locations). */
  seed: number;
  /** λ of the doubly stochastic penalty. */
  alphaC: number;
  /** λ_r and λ_e (hard-sample only). */
  reinforceWeight: number;
  entropyWeight: number;
  /** REINFORCE baseline before this minibatch (hard-sample only). */
  baseline: number;
  /** [B, T] locations to use instead of sampling (hard-sample only). */
  locations?: Int32Array;
  /**
   * Gradient-check hook, honoured by the reference engine only: per-caption rewards r_b to use
   * instead of log p_b − baseline, so that finite differences of J see r_b as the constant it
   * is in the surrogate (stop-gradient).
   */
  rewards?: Float64Array;
  /** false: forward only (no gradients written). */
  computeGrad: boolean;
}

export interface StepResult {
  /** The objective J that the gradients are of. */
  loss: number;
  /** −(1/B) Σ mask log p. */
  nll: number;
  /** Doubly stochastic penalty R. */
  penalty: number;
  /** Per caption Σ_t mask log p (for the REINFORCE baseline). */
  logProb: Float64Array;
  /** Mean entropy of α over the masked steps. */
  attentionEntropy: number;
  /** Number of real target tokens (Σ mask). */
  tokens: number;
  /** [B, T] the locations used (hard-sample), else undefined. */
  locations?: Int32Array;
}

/** What a decoding step returns for N rows (images x beams). */
export interface DecodeStepResult {
  /** [N, K] log-probabilities of the next word. */
  logProbs: Float32Array;
  /** [N, L] attention weights α_t. */
  alpha: Float32Array;
  /** [N] gate β_t. */
  beta: Float32Array;
  /** [N] the sampled location of each row (hard-attention sampling only). */
  locations?: Int32Array;
}

/** decodeStepTop's result: the best `k` words of each row instead of the whole distribution. */
export interface DecodeTopResult {
  /** [N, k] word ids, best first (ties: the smaller id); -1 past the words `blocked` allows. */
  topIds: Int32Array;
  /** [N, k] their log p (-Infinity past the allowed words). */
  topLogProbs: Float32Array;
  alpha: Float32Array;
  beta: Float32Array;
  locations?: Int32Array;
}

/** Per-image decoding context: features plus the once-per-image projection W_a a + b_a. */
export interface DecodeContext {
  numImages: number;
}

/** Recurrent state of N decoding rows. */
export interface DecodeState {
  /** [N, n] */
  h: Float32Array;
  /** [N, n] */
  c: Float32Array;
}

/**
 * Features to decode, [numImages, L, D]: float32, or the float16 bits (a Uint16Array) that a
 * feature store holds, which an engine may keep as they are (the native one halves the bytes
 * each step's attention reads) instead of widening them first.
 */
export type DecodeFeatures = Float32Array | Uint16Array;

export interface DecoderEngine {
  readonly kind: "native" | "reference";
  readonly config: ModelConfig;
  /** The flat parameter buffer (layout: src/model/layout.ts). Writable in place. */
  readonly params: FloatArray;
  /** Gradients, same layout; overwritten by every forwardBackward with computeGrad. */
  readonly grads: FloatArray;
  forwardBackward(batch: TrainBatch, opts: StepOptions): StepResult;

  /**
   * Prepares decoding of `numImages` images ([numImages, L, D]). The context captures the
   * weights as they are now; prepare a new one after changing the parameters.
   */
  prepareDecode(features: DecodeFeatures, numImages: number): DecodeContext;
  /**
   * Ends a decoding early: the context's memory (features, projections and packed weights, a
   * few hundred MB for a large batch) goes back to the engine for its next prepareDecode
   * instead of waiting for the garbage collector. The context cannot decode after this.
   * Optional (the reference engine keeps nothing per context).
   */
  releaseDecode?(ctx: DecodeContext): void;
  /** Initial state for `rowImage.length` rows; row r decodes image rowImage[r]. */
  initialState(ctx: DecodeContext, rowImage: Int32Array): DecodeState;
  /**
   * One step for every row: input word `tokens[r]`, previous state; writes the new state into
   * `state` in place and returns log p(next word), α and β. Dropout is off; soft attention
   * (the expectation) unless `sampleSeed` is given for hard-attention sampling.
   */
  decodeStep(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, sampleSeed?: number): DecodeStepResult;
  /**
   * decodeStep, returning the `k` most probable words of each row that `blocked` (K flags)
   * allows instead of the whole distribution: what beam search needs, without N·K floats a
   * step. Optional: src/decode/top-words.ts computes the same from decodeStep where an engine
   * lacks it.
   */
  decodeStepTop?(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, k: number, blocked: Uint8Array, sampleSeed?: number): DecodeTopResult;
  /**
   * One optimiser update of params from grads (docs/engine.md, "Optimisers"): clipping,
   * weight decay, then Adam or RMSProp. `step` counts updates from 1 (Adam bias correction).
   * Returns the global gradient L2 norm before clipping.
   */
  optimizerStep(settings: OptimizerSettings, step: number): number;
  /** Optimiser state buffers, same layout as params (Adam: [m, v]; RMSProp: [v]), for checkpoints. */
  optimizerState(kind: OptimizerKind): FloatArray[];
  /** Frees native memory (no-op for the reference). */
  dispose(): void;
}

export type OptimizerKind = "adam" | "rmsprop";

export interface OptimizerSettings {
  kind: OptimizerKind;
  lr: number;
  /** Adam */
  beta1: number;
  beta2: number;
  /** RMSProp decay ρ */
  rho: number;
  eps: number;
  /** Decoupled weight decay (0 = off). */
  weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
}

export const DEFAULT_OPTIMIZER: OptimizerSettings = {
  kind: "adam",
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  rho: 0.9,
  eps: 1e-8,
  weightDecay: 0,
  clipNorm: 0,
};
