/**
 * The native decoder engine (native/*.cc, OpenBLAS) behind the DecoderEngine interface.
 * Parameters, gradients and optimiser state are Float32Arrays owned by JS whose memory the
 * addon reads and writes in place: nothing is copied per step.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { ModelConfig } from "../model/config.js";
import type {
  DecodeContext,
  DecodeFeatures,
  DecodeState,
  DecodeStepResult,
  DecodeTopResult,
  DecoderEngine,
  OptimizerKind,
  OptimizerSettings,
  StepMode,
  StepOptions,
  StepResult,
  TrainBatch,
} from "../model/engine.js";
import { paramLayout } from "../model/layout.js";
import { asFloat32 } from "../data/float16.js";

/** The options of the addon's training step: StepArgs of native/sat.h, and the output buffers. */
type AddonStep = TrainBatch & Pick<StepOptions, "dropout" | "seed" | "alphaC" | "reinforceWeight" | "entropyWeight" | "baseline" | "computeGrad" | "locations"> & {
  params: Float32Array;
  grads: Float32Array;
  /** 0 soft, 1 hard-sample, 2 hard-expect */
  mode: number;
  logProbOut: Float64Array;
  locationsOut: Int32Array;
};

/** A decoding context made by one addon engine (opaque; the addon checks its owner). */
type AddonContext = object;

interface AddonDecodeRows {
  params: Float32Array;
  ctx: AddonContext;
  rowImage: Int32Array;
}

/** The addon's Engine class (native/addon.cc): one options object per call. */
interface AddonEngine {
  forwardBackward(o: AddonStep): { loss: number; nll: number; penalty: number; attentionEntropy: number; tokens: number };
  /**
   * features, or featuresHalf (float16 bits) where the addon has halfFeatures. featureBits: 16
   * when the context holds the features as float16, else 32.
   */
  prepareDecode(o: { params: Float32Array; features?: Float32Array; featuresHalf?: Uint16Array; numImages: number }): AddonContext & { numImages: number; featureBits: 16 | 32 };
  initialState(o: AddonDecodeRows & { h: Float32Array; c: Float32Array }): void;
  releaseDecode(o: { ctx: AddonContext }): void;
  decodeStep(o: AddonDecodeRows & {
    tokens: Int32Array; h: Float32Array; c: Float32Array; sampleSeed?: number;
    logProbs?: Float32Array; alpha: Float32Array; beta: Float32Array; locations?: Int32Array;
    topK?: number; blocked?: Uint8Array; topIds?: Int32Array; topLogProbs?: Float32Array;
  }): void;
  optimizerStep(o: {
    params: Float32Array; grads: Float32Array; kind: number; lr: number; beta1: number; beta2: number; rho: number; eps: number;
    weightDecay: number; clipNorm: number; step: number; state1: Float32Array; state2?: Float32Array;
  }): number;
  workspaceBytes(): number;
  dispose(): void;
}

export interface EngineDims {
  K: number;
  m: number;
  n: number;
  A: number;
  D: number;
  L: number;
}

export interface NativeAddon {
  Engine: new (dims: EngineDims) => AddonEngine;
  numThreads(): number;
  /** Whether prepareDecode takes float16 features (the build has F16C). */
  halfFeatures: boolean;
  /** The BLAS build and the kernels it picked on this CPU. */
  blasInfo(): string;
  /** Best GFLOP/s of `reps` row-major sgemms C[M,N] = A[M,K] B[K,N] through the engine's own gemm (threads split as in a step). */
  sgemmGflops(o: { M: number; N: number; K: number; reps: number }): number;
  /** Each layer's forward and backward alone (native/layer_bindings.cc), for the per-layer tests. */
  layers: NativeLayers;
}

type Layer<In, Out> = (o: In & { dims: EngineDims; params: Float32Array }) => Out;
interface AttentionIn { B: number; features: Float32Array; hprev: Float32Array; sample: boolean; locations?: Int32Array }
interface LstmIn { B: number; X: Float32Array; hprev: Float32Array; z: Float32Array; cprev: Float32Array }
interface DeepOutputIn { R: number; X: Float32Array; H: Float32Array; Z: Float32Array; dropout: number; seed: number }
export interface NativeLayers {
  initStateForward: Layer<{ B: number; features: Float32Array }, { abar: Float32Array; h0: Float32Array; c0: Float32Array }>;
  initStateBackward: Layer<{ B: number; features: Float32Array; dh0: Float32Array; dc0: Float32Array }, { grads: Float32Array }>;
  attentionForward: Layer<AttentionIn, { alpha: Float32Array; beta: Float32Array; ctx: Float32Array; z: Float32Array; entropy: Float32Array; logAlphaS?: Float32Array }>;
  attentionBackward: Layer<AttentionIn & {
    dz: Float32Array; cov: Float32Array; mask: Float32Array; rewards: Float32Array; lambda: number; lambdaR: number; lambdaE: number; invB: number;
  }, { dh: Float32Array; grads: Float32Array }>;
  lstmForward: Layer<LstmIn, { gates: Float32Array; c: Float32Array; h: Float32Array }>;
  lstmBackward: Layer<LstmIn & { dh: Float32Array; dcNext: Float32Array }, { dX: Float32Array; dhprev: Float32Array; dz: Float32Array; dcprev: Float32Array; grads: Float32Array }>;
  deepOutputForward: Layer<DeepOutputIn, { u: Float32Array; ud: Float32Array }>;
  deepOutputBackward: Layer<DeepOutputIn & { dud: Float32Array }, { dX: Float32Array; dH: Float32Array; dZ: Float32Array; grads: Float32Array }>;
}

let cached: NativeAddon | null | undefined;

/** Where the built addon lives, from src/native (tsx) or dist/src/native (compiled). */
export function nativeAddonPath(): string | null {
  for (const rel of ["../../build/Release/sat_native.node", "../../../build/Release/sat_native.node"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Threading: one pool. The addon makes OpenBLAS single-threaded and splits each GEMM between
 * the OpenMP threads itself; those threads wait passively between parallel regions
 * (native/kernels.cc has the measurements). libgomp and OpenBLAS read these variables once,
 * when the addon loads them, hence here. A user's own settings win.
 */
function setThreadingEnv(): void {
  process.env.OPENBLAS_NUM_THREADS ??= "1";
  process.env.OMP_WAIT_POLICY ??= "PASSIVE";
}

/** The addon, or null (with a one-line warning on stderr, once) when it is not built. */
export function loadNativeAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  const path = nativeAddonPath();
  if (!path) {
    process.stderr.write("show-attend-tell: native engine not built (build/Release/sat_native.node missing; npm run build:native); using the TypeScript reference\n");
    cached = null;
    return cached;
  }
  setThreadingEnv();
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as NativeAddon;
  } catch (e) {
    process.stderr.write(`show-attend-tell: native engine failed to load (${(e as Error).message.split("\n")[0]}); using the TypeScript reference\n`);
    cached = null;
  }
  return cached;
}

const MODE: Record<StepMode, number> = { soft: 0, "hard-sample": 1, "hard-expect": 2 };

export class NativeEngine implements DecoderEngine {
  readonly kind = "native" as const;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  private engine: AddonEngine | null;
  /** This engine's decoding contexts (a context of another engine is refused here and in the addon). */
  private readonly contexts = new WeakMap<DecodeContext, AddonContext>();
  private optState: Partial<Record<OptimizerKind, Float32Array[]>> = {};

  constructor(
    readonly config: ModelConfig,
    private readonly addon: NativeAddon,
    params?: Float32Array | Float64Array,
  ) {
    const total = paramLayout(config).total;
    if (params && params.length !== total) {
      throw new Error(`NativeEngine: params has ${params.length} values, expected ${total} for this config`);
    }
    // Copied once, as the reference does, so that the caller's array is never aliased.
    this.params = new Float32Array(total);
    if (params) this.params.set(params);
    this.grads = new Float32Array(total);
    this.engine = new addon.Engine({
      K: config.vocabSize, m: config.embedDim, n: config.hiddenDim, A: config.attnDim, D: config.featureDim, L: config.numLocations,
    });
  }

  private get e(): AddonEngine {
    if (!this.engine) throw new Error("NativeEngine: used after dispose()");
    return this.engine;
  }

  forwardBackward(batch: TrainBatch, opts: StepOptions): StepResult {
    const { B, T } = batch;
    if (!(Number.isInteger(B) && B > 0)) throw new Error(`forwardBackward: batch.B must be a positive integer (got ${B})`);
    if (!(Number.isInteger(T) && T > 0)) throw new Error(`forwardBackward: batch.T must be a positive integer (got ${T})`);
    const mode = MODE[opts.mode];
    if (mode === undefined) throw new Error(`forwardBackward: opts.mode must be soft, hard-sample or hard-expect (got ${JSON.stringify(opts.mode)})`);
    const logProb = new Float64Array(B);
    const locations = new Int32Array(B * T);
    const r = this.e.forwardBackward({
      params: this.params, grads: this.grads, features: batch.features, inputs: batch.inputs, targets: batch.targets, mask: batch.mask, B, T,
      mode, dropout: opts.dropout, seed: opts.seed >>> 0, alphaC: opts.alphaC, reinforceWeight: opts.reinforceWeight,
      entropyWeight: opts.entropyWeight, baseline: opts.baseline, computeGrad: opts.computeGrad,
      locations: opts.mode === "hard-sample" ? opts.locations : undefined, logProbOut: logProb, locationsOut: locations,
    });
    const out: StepResult = {
      loss: r.loss, nll: r.nll, penalty: r.penalty, logProb, attentionEntropy: r.attentionEntropy, tokens: r.tokens,
    };
    if (opts.mode === "hard-sample") out.locations = locations;
    return out;
  }

  prepareDecode(features: DecodeFeatures, numImages: number): DecodeContext {
    const half = features instanceof Uint16Array;
    const handle = this.e.prepareDecode(
      half && this.addon.halfFeatures
        ? { params: this.params, featuresHalf: features, numImages }
        : { params: this.params, features: asFloat32(features), numImages },
    );
    const ctx: DecodeContext = { numImages };
    this.contexts.set(ctx, handle);
    return ctx;
  }

  releaseDecode(ctx: DecodeContext): void {
    this.e.releaseDecode({ ctx: this.context(ctx, "releaseDecode") });
  }

  private context(ctx: DecodeContext, fn: string): AddonContext {
    const h = this.contexts.get(ctx);
    if (h === undefined) throw new Error(`${fn}: ctx was not returned by this engine's prepareDecode`);
    return h;
  }

  initialState(ctx: DecodeContext, rowImage: Int32Array): DecodeState {
    const n = this.config.hiddenDim;
    const h = new Float32Array(rowImage.length * n);
    const c = new Float32Array(rowImage.length * n);
    this.e.initialState({ params: this.params, ctx: this.context(ctx, "initialState"), rowImage, h, c });
    return { h, c };
  }

  decodeStep(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, sampleSeed?: number): DecodeStepResult {
    const logProbs = new Float32Array(rowImage.length * this.config.vocabSize);
    return { logProbs, ...this.step("decodeStep", ctx, rowImage, tokens, state, sampleSeed, { logProbs }) };
  }

  decodeStepTop(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, k: number, blocked: Uint8Array, sampleSeed?: number): DecodeTopResult {
    const topIds = new Int32Array(rowImage.length * k);
    const topLogProbs = new Float32Array(rowImage.length * k);
    return { topIds, topLogProbs, ...this.step("decodeStepTop", ctx, rowImage, tokens, state, sampleSeed, { topK: k, blocked, topIds, topLogProbs }) };
  }

  /** The addon's decodeStep with the outputs both forms share (α, β, sampled locations) and `out`. */
  private step(
    fn: string, ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, sampleSeed: number | undefined,
    out: { logProbs?: Float32Array; topK?: number; blocked?: Uint8Array; topIds?: Int32Array; topLogProbs?: Float32Array },
  ): { alpha: Float32Array; beta: Float32Array; locations?: Int32Array } {
    const N = rowImage.length;
    const alpha = new Float32Array(N * this.config.numLocations);
    const beta = new Float32Array(N);
    const locations = sampleSeed === undefined ? undefined : new Int32Array(N);
    this.e.decodeStep({
      params: this.params, ctx: this.context(ctx, fn), rowImage, tokens, h: state.h, c: state.c,
      sampleSeed: sampleSeed === undefined ? undefined : sampleSeed >>> 0, alpha, beta, locations, ...out,
    });
    return locations ? { alpha, beta, locations } : { alpha, beta };
  }

  optimizerState(kind: OptimizerKind): Float32Array[] {
    let s = this.optState[kind];
    if (!s) {
      const N = this.params.length;
      s = kind === "adam" ? [new Float32Array(N), new Float32Array(N)] : [new Float32Array(N)];
      this.optState[kind] = s;
    }
    return s;
  }

  optimizerStep(o: OptimizerSettings, step: number): number {
    if (o.kind !== "adam" && o.kind !== "rmsprop") throw new Error(`optimizerStep: settings.kind must be adam or rmsprop (got ${JSON.stringify(o.kind)})`);
    const s = this.optimizerState(o.kind);
    return this.e.optimizerStep({
      params: this.params, grads: this.grads, kind: o.kind === "adam" ? 0 : 1, lr: o.lr, beta1: o.beta1, beta2: o.beta2, rho: o.rho,
      eps: o.eps, weightDecay: o.weightDecay, clipNorm: o.clipNorm, step, state1: s[0], state2: s[1],
    });
  }

  /** Bytes of activation workspace currently held by the addon. */
  workspaceBytes(): number {
    return this.engine ? this.engine.workspaceBytes() : 0;
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}

/** A native engine, or null when the addon is not built (the caller falls back to the reference). */
export function createNativeEngine(config: ModelConfig, params?: Float32Array | Float64Array): NativeEngine | null {
  const addon = loadNativeAddon();
  return addon ? new NativeEngine(config, addon, params) : null;
}
