/**
 * The TypeScript reference decoder: a literal, caption-by-caption transcription of
 * docs/engine.md, one forward/backward function pair per layer (the native engine's layers
 * bear the same names), composed by captionForward and captionBackward. It is the oracle of the tests (float64 params give float64 arithmetic, which
 * finite differences check) and the fallback where the native addon is absent. Clarity wins
 * over speed here; the native engine is the fast path.
 */
import type { ModelConfig } from "./config.js";
import type {
  DecodeContext,
  DecodeFeatures,
  DecodeState,
  DecodeStepResult,
  DecoderEngine,
  FloatArray,
  OptimizerKind,
  OptimizerSettings,
  StepOptions,
  StepResult,
  TrainBatch,
} from "./engine.js";
import { paramLayout, view, type ParamLayout, type ParamName } from "./layout.js";
import { asFloat32 } from "../data/float16.js";
import { LOCATION_STREAM_XOR, uniform } from "../util/rng.js";

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** out[j] += Σ_k x[xo + k] W[k, j]   (x: [inDim], W: [inDim, outDim]) */
function vecMatAdd(out: FloatArray, x: ArrayLike<number>, xo: number, W: FloatArray, inDim: number, outDim: number): void {
  for (let k = 0; k < inDim; k++) {
    const xk = x[xo + k];
    if (xk === 0) continue;
    const row = k * outDim;
    for (let j = 0; j < outDim; j++) out[j] += xk * W[row + j];
  }
}

/** dx[xo + k] += Σ_j dy[j] W[k, j]   and   dW[k, j] += x[xo + k] dy[j] */
function vecMatBackward(
  dy: FloatArray,
  x: ArrayLike<number>,
  xo: number,
  W: FloatArray,
  dW: FloatArray,
  dx: FloatArray | null,
  dxo: number,
  inDim: number,
  outDim: number,
): void {
  for (let k = 0; k < inDim; k++) {
    const xk = x[xo + k];
    const row = k * outDim;
    let acc = 0;
    for (let j = 0; j < outDim; j++) {
      acc += dy[j] * W[row + j];
      dW[row + j] += xk * dy[j];
    }
    if (dx) dx[dxo + k] += acc;
  }
}

/** Named views of a flat buffer (the parameters, or their gradients). */
export type Tensors = Record<ParamName, FloatArray>;

export function tensorViews(buf: FloatArray, layout: ParamLayout): Tensors {
  const t = {} as Tensors;
  for (const s of layout.order) t[s.name] = view(buf, layout, s.name);
  return t;
}

// ---- layers: a forward/backward pair each, for one caption (docs/engine.md) ----
// A backward adds its weights' gradients into `gw` and returns the gradients of its inputs.

/** Initial state: ā = mean_i a_i, h_0 = tanh(ā W_ih + b_ih), c_0 = tanh(ā W_ic + b_ic). */
export function initStateForward(w: Tensors, cfg: ModelConfig, a: Float32Array, ao: number, F: Ctor): { abar: FloatArray; h0: FloatArray; c0: FloatArray } {
  const { featureDim: D, numLocations: L, hiddenDim: n } = cfg;
  const abar = new F(D);
  for (let i = 0; i < L; i++) for (let d = 0; d < D; d++) abar[d] += a[ao + i * D + d];
  for (let d = 0; d < D; d++) abar[d] /= L;
  const h0 = new F(n);
  const c0 = new F(n);
  h0.set(w.b_ih);
  c0.set(w.b_ic);
  vecMatAdd(h0, abar, 0, w.W_ih, D, n);
  vecMatAdd(c0, abar, 0, w.W_ic, D, n);
  for (let j = 0; j < n; j++) {
    h0[j] = Math.tanh(h0[j]);
    c0[j] = Math.tanh(c0[j]);
  }
  return { abar, h0, c0 };
}

export function initStateBackward(
  w: Tensors, gw: Tensors, cfg: ModelConfig, s: { abar: FloatArray; h0: FloatArray; c0: FloatArray }, dh0: FloatArray, dc0: FloatArray, F: Ctor,
): void {
  const { featureDim: D, hiddenDim: n } = cfg;
  const dpreH0 = new F(n);
  const dpreC0 = new F(n);
  for (let j = 0; j < n; j++) {
    dpreH0[j] = dh0[j] * (1 - s.h0[j] * s.h0[j]);
    dpreC0[j] = dc0[j] * (1 - s.c0[j] * s.c0[j]);
  }
  vecMatBackward(dpreH0, s.abar, 0, w.W_ih, gw.W_ih, null, 0, D, n);
  vecMatBackward(dpreC0, s.abar, 0, w.W_ic, gw.W_ic, null, 0, D, n);
  for (let j = 0; j < n; j++) {
    gw.b_ih[j] += dpreH0[j];
    gw.b_ic[j] += dpreC0[j];
  }
}

/** Projection P = a W_a + b_a [L, A], shared by all steps of a caption. */
export function attentionProjectForward(w: Tensors, cfg: ModelConfig, a: Float32Array, ao: number, F: Ctor): FloatArray {
  const { featureDim: D, numLocations: L, attnDim: A } = cfg;
  const P = new F(L * A);
  for (let i = 0; i < L; i++) {
    const row = P.subarray(i * A, (i + 1) * A);
    row.set(w.b_a);
    vecMatAdd(row, a, ao + i * D, w.W_a, D, A);
  }
  return P;
}

export function attentionProjectBackward(w: Tensors, gw: Tensors, cfg: ModelConfig, a: Float32Array, ao: number, dP: FloatArray): void {
  const { featureDim: D, numLocations: L, attnDim: A } = cfg;
  for (let i = 0; i < L; i++) {
    const dRow = dP.subarray(i * A, (i + 1) * A) as FloatArray;
    for (let k = 0; k < A; k++) gw.b_a[k] += dRow[k];
    vecMatBackward(dRow, a, ao + i * D, w.W_a, gw.W_a, null, 0, D, A);
  }
}

/** What one attention step keeps for its backward. */
export interface AttentionRecord {
  S: FloatArray; // [L, A] tanh(P + q)
  alpha: FloatArray; // [L]
  beta: number;
  ctx: FloatArray; // [D] Σ α a, or a_s
  z: FloatArray; // [D] β ctx
  entropy: number; // H(α)
  loc: number; // s_t (hard-sample), else -1
}

/**
 * One attention step: q = h_{t-1} W_h, S = tanh(P + q), α = softmax(S w_att + b_att),
 * β = σ(h_{t-1} · w_beta + b_beta), and the context. `pick` chooses the location from α (hard
 * attention); without it the context is the expectation Σ α_i a_i.
 */
export function attentionForward(
  w: Tensors, cfg: ModelConfig, P: FloatArray, a: Float32Array, ao: number, hprev: FloatArray, pick: ((alpha: FloatArray) => number) | null, F: Ctor,
): AttentionRecord {
  const { numLocations: L, attnDim: A, hiddenDim: n, featureDim: D } = cfg;
  const q = new F(A);
  vecMatAdd(q, hprev, 0, w.W_h, n, A);
  const batt = w.b_att[0];
  const S = new F(L * A);
  const alpha = new F(L);
  let emax = -Infinity;
  for (let i = 0; i < L; i++) {
    let e = batt;
    for (let k = 0; k < A; k++) {
      const s = Math.tanh(P[i * A + k] + q[k]);
      S[i * A + k] = s;
      e += s * w.w_att[k];
    }
    alpha[i] = e;
    if (e > emax) emax = e;
  }
  let sum = 0;
  for (let i = 0; i < L; i++) {
    alpha[i] = Math.exp(alpha[i] - emax);
    sum += alpha[i];
  }
  for (let i = 0; i < L; i++) alpha[i] /= sum;
  let bpre = w.b_beta[0];
  for (let j = 0; j < n; j++) bpre += hprev[j] * w.w_beta[j];
  const beta = sigmoid(bpre);
  const loc = pick ? pick(alpha) : -1;
  if (pick && !(loc >= 0 && loc < L)) throw new Error(`location ${loc} out of range [0, ${L})`);
  const ctx = new F(D);
  if (loc >= 0) {
    for (let d = 0; d < D; d++) ctx[d] = a[ao + loc * D + d];
  } else {
    for (let i = 0; i < L; i++) {
      const wi = alpha[i];
      for (let d = 0; d < D; d++) ctx[d] += wi * a[ao + i * D + d];
    }
  }
  const z = new F(D);
  for (let d = 0; d < D; d++) z[d] = beta * ctx[d];
  return { S, alpha, beta, ctx, z, entropy: entropy(alpha), loc };
}

/** The objective's terms that reach α directly (not through ẑ), with their 1/B folded in. */
export interface AttentionObjective {
  mask: number;
  /** Σ_t mask α_t of the caption [L] (the doubly stochastic penalty's coverage). */
  coverage: ArrayLike<number>;
  /** λ / B */
  penaltyWeight: number;
  /** hard-sample: r_b, λ_r / B and λ_e / B */
  reward: number;
  reinforceWeight: number;
  entropyWeight: number;
}

/**
 * Backward of one attention step from dẑ: adds the weights' gradients into gw, dpreS into dP
 * (the projection's gradient, applied once per caption), and returns dh_prev's share.
 */
export function attentionBackward(
  w: Tensors, gw: Tensors, cfg: ModelConfig, a: Float32Array, ao: number, hprev: FloatArray, r: AttentionRecord, dz: FloatArray,
  obj: AttentionObjective, dP: FloatArray, F: Ctor,
): FloatArray {
  const { numLocations: L, attnDim: A, hiddenDim: n, featureDim: D } = cfg;
  const { alpha, beta, ctx, S } = r;
  const hard = r.loc >= 0;
  let dbeta = 0;
  for (let d = 0; d < D; d++) dbeta += dz[d] * ctx[d];
  const dalpha = new Float64Array(L);
  if (!hard) {
    for (let i = 0; i < L; i++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += dz[d] * a[ao + i * D + d];
      dalpha[i] = beta * s;
    }
  }
  for (let i = 0; i < L; i++) dalpha[i] += -2 * obj.penaltyWeight * obj.mask * (1 - obj.coverage[i]);
  let dot = 0;
  for (let i = 0; i < L; i++) dot += alpha[i] * dalpha[i];
  const de = new Float64Array(L);
  for (let i = 0; i < L; i++) de[i] = alpha[i] * (dalpha[i] - dot);
  if (hard) {
    for (let i = 0; i < L; i++) {
      de[i] += -obj.reinforceWeight * obj.reward * obj.mask * ((i === r.loc ? 1 : 0) - alpha[i]);
      if (alpha[i] > 0) de[i] += obj.entropyWeight * obj.mask * alpha[i] * (Math.log(alpha[i]) + r.entropy);
    }
  }
  const dq = new F(A);
  let dbatt = 0;
  for (let i = 0; i < L; i++) {
    dbatt += de[i];
    for (let k = 0; k < A; k++) {
      const s = S[i * A + k];
      gw.w_att[k] += de[i] * s;
      const dpre = de[i] * w.w_att[k] * (1 - s * s);
      dP[i * A + k] += dpre;
      dq[k] += dpre;
    }
  }
  gw.b_att[0] += dbatt;
  const dh = new F(n);
  vecMatBackward(dq, hprev, 0, w.W_h, gw.W_h, dh, 0, n, A);
  const dpreBeta = dbeta * beta * (1 - beta);
  for (let j = 0; j < n; j++) {
    gw.w_beta[j] += dpreBeta * hprev[j];
    dh[j] += dpreBeta * w.w_beta[j];
  }
  gw.b_beta[0] += dpreBeta;
  return dh;
}

/** LSTM step: G = x W_x + h_{t-1} U + ẑ W_z + b; returns the activated gates [i, f, o, g] and (h, c). */
export function lstmForward(
  w: Tensors, cfg: ModelConfig, x: FloatArray, hprev: FloatArray, cprev: FloatArray, z: FloatArray, F: Ctor,
): { gates: FloatArray; h: FloatArray; c: FloatArray } {
  const { embedDim: m, hiddenDim: n, featureDim: D } = cfg;
  const G = new F(4 * n);
  G.set(w.b);
  vecMatAdd(G, x, 0, w.W_x, m, 4 * n);
  vecMatAdd(G, hprev, 0, w.U, n, 4 * n);
  vecMatAdd(G, z, 0, w.W_z, D, 4 * n);
  const h = new F(n);
  const c = new F(n);
  for (let j = 0; j < n; j++) {
    const ig = sigmoid(G[j]);
    const fg = sigmoid(G[n + j]);
    const og = sigmoid(G[2 * n + j]);
    const gg = Math.tanh(G[3 * n + j]);
    G[j] = ig;
    G[n + j] = fg;
    G[2 * n + j] = og;
    G[3 * n + j] = gg;
    c[j] = fg * cprev[j] + ig * gg;
    h[j] = og * Math.tanh(c[j]);
  }
  return { gates: G, h, c };
}

/** From dh (all of it) and dc_next: the gradients of x, h_{t-1}, ẑ and c_{t-1}. */
export function lstmBackward(
  w: Tensors, gw: Tensors, cfg: ModelConfig, x: FloatArray, hprev: FloatArray, cprev: FloatArray, z: FloatArray,
  s: { gates: FloatArray; c: FloatArray }, dh: FloatArray, dcNext: FloatArray, F: Ctor,
): { dx: FloatArray; dhPrev: FloatArray; dz: FloatArray; dcPrev: FloatArray } {
  const { embedDim: m, hiddenDim: n, featureDim: D } = cfg;
  const G = s.gates;
  const dG = new F(4 * n);
  const dcPrev = new F(n);
  for (let j = 0; j < n; j++) {
    const ig = G[j], fg = G[n + j], og = G[2 * n + j], gg = G[3 * n + j];
    const tc = Math.tanh(s.c[j]);
    const dc = dcNext[j] + dh[j] * og * (1 - tc * tc);
    dG[j] = dc * gg * ig * (1 - ig);
    dG[n + j] = dc * cprev[j] * fg * (1 - fg);
    dG[2 * n + j] = dh[j] * tc * og * (1 - og);
    dG[3 * n + j] = dc * ig * (1 - gg * gg);
    dcPrev[j] = dc * fg;
  }
  for (let j = 0; j < 4 * n; j++) gw.b[j] += dG[j];
  const dx = new F(m);
  const dhPrev = new F(n);
  const dz = new F(D);
  vecMatBackward(dG, x, 0, w.W_x, gw.W_x, dx, 0, m, 4 * n);
  vecMatBackward(dG, hprev, 0, w.U, gw.U, dhPrev, 0, n, 4 * n);
  vecMatBackward(dG, z, 0, w.W_z, gw.W_z, dz, 0, D, 4 * n);
  return { dx, dhPrev, dz, dcPrev };
}

/** Dropout keep mask of one position (docs/engine.md "Random streams"); all kept when p = 0. */
export function dropoutKeep(seed: number, position: number, m: number, p: number): Uint8Array {
  const keep = new Uint8Array(m);
  for (let j = 0; j < m; j++) keep[j] = p > 0 ? (uniform(seed, position * m + j) >= p ? 1 : 0) : 1;
  return keep;
}

/** Deep output: u = tanh(x + h L_h + ẑ L_z), ũ = dropout(u). */
export function deepOutputForward(
  w: Tensors, cfg: ModelConfig, x: FloatArray, h: FloatArray, z: FloatArray, keep: Uint8Array, p: number, F: Ctor,
): { u: FloatArray; ud: FloatArray } {
  const { embedDim: m, hiddenDim: n, featureDim: D } = cfg;
  const u = new F(m);
  u.set(x);
  vecMatAdd(u, h, 0, w.L_h, n, m);
  vecMatAdd(u, z, 0, w.L_z, D, m);
  const ud = new F(m);
  for (let j = 0; j < m; j++) {
    u[j] = Math.tanh(u[j]);
    ud[j] = keep[j] ? u[j] / (1 - p) : 0;
  }
  return { u, ud };
}

export function deepOutputBackward(
  w: Tensors, gw: Tensors, cfg: ModelConfig, h: FloatArray, z: FloatArray, u: FloatArray, keep: Uint8Array, p: number, dud: FloatArray, F: Ctor,
): { dx: FloatArray; dh: FloatArray; dz: FloatArray } {
  const { embedDim: m, hiddenDim: n, featureDim: D } = cfg;
  const dx = new F(m);
  for (let j = 0; j < m; j++) dx[j] = (keep[j] ? dud[j] / (1 - p) : 0) * (1 - u[j] * u[j]);
  const dh = new F(n);
  const dz = new F(D);
  vecMatBackward(dx, h, 0, w.L_h, gw.L_h, dh, 0, n, m);
  vecMatBackward(dx, z, 0, w.L_z, gw.L_z, dz, 0, D, m);
  return { dx, dh, dz };
}

/** Output layer: softmax(ũ L_o + b_o). */
export function outputForward(w: Tensors, cfg: ModelConfig, ud: FloatArray, F: Ctor): FloatArray {
  const { embedDim: m, vocabSize: K } = cfg;
  const probs = new F(K);
  probs.set(w.b_o);
  vecMatAdd(probs, ud, 0, w.L_o, m, K);
  let mx = -Infinity;
  for (let k = 0; k < K; k++) if (probs[k] > mx) mx = probs[k];
  let sum = 0;
  for (let k = 0; k < K; k++) {
    probs[k] = Math.exp(probs[k] - mx);
    sum += probs[k];
  }
  for (let k = 0; k < K; k++) probs[k] /= sum;
  return probs;
}

/** From dℓ = (softmax − onehot(target)) · weight: returns dũ. */
export function outputBackward(w: Tensors, gw: Tensors, cfg: ModelConfig, ud: FloatArray, probs: FloatArray, target: number, weight: number, F: Ctor): FloatArray {
  const { embedDim: m, vocabSize: K } = cfg;
  const dlogits = new F(K);
  for (let k = 0; k < K; k++) dlogits[k] = (probs[k] - (k === target ? 1 : 0)) * weight;
  const dud = new F(m);
  vecMatBackward(dlogits, ud, 0, w.L_o, gw.L_o, dud, 0, m, K);
  for (let k = 0; k < K; k++) gw.b_o[k] += dlogits[k];
  return dud;
}

/** Everything one caption's forward keeps for its backward (index t: step t). */
interface CaptionActivations {
  init: { abar: FloatArray; h0: FloatArray; c0: FloatArray };
  P: FloatArray; // [L, A]
  h: FloatArray[]; // h[t + 1] = h_t, h[0] = h_0
  c: FloatArray[];
  x: FloatArray[]; // [m] embedding of the input word
  att: AttentionRecord[];
  lstm: { gates: FloatArray; h: FloatArray; c: FloatArray }[];
  keep: Uint8Array[]; // dropout mask [m]
  out: { u: FloatArray; ud: FloatArray }[];
  probs: FloatArray[]; // softmax [K]
  coverage: Float64Array; // [L] Σ_t mask α_t
  reward: number; // r_b (hard-sample)
}

/** A caption's forward values: log p, the objective's terms, and the tokens counted. */
interface CaptionSums {
  logProb: number;
  penalty: number;
  extra: number;
  entropySum: number;
  tokens: number;
}

export class ReferenceEngine implements DecoderEngine {
  readonly kind = "reference" as const;
  readonly grads: FloatArray;
  private readonly layout: ParamLayout;
  private readonly F: Ctor;
  private readonly w: Tensors;
  private readonly gw: Tensors;
  private optState: Partial<Record<OptimizerKind, FloatArray[]>> = {};

  constructor(
    readonly config: ModelConfig,
    readonly params: FloatArray,
  ) {
    this.layout = paramLayout(config);
    if (params.length !== this.layout.total) {
      throw new Error(`ReferenceEngine: params has ${params.length} values, expected ${this.layout.total} for this config`);
    }
    this.F = params instanceof Float64Array ? Float64Array : Float32Array;
    this.grads = new this.F(this.layout.total);
    this.w = tensorViews(this.params, this.layout);
    this.gw = tensorViews(this.grads, this.layout);
  }

  private embed(token: number): FloatArray {
    const { embedDim: m, vocabSize: K } = this.config;
    if (!(token >= 0 && token < K)) throw new Error(`token id ${token} out of range [0, ${K})`);
    return this.w.E.subarray(token * m, (token + 1) * m) as FloatArray;
  }

  // ---- training ----

  forwardBackward(batch: TrainBatch, opts: StepOptions): StepResult {
    const { B, T } = batch;
    const { numLocations: L, featureDim: D } = this.config;
    checkBatch(batch, L, D, this.config.vocabSize);
    if (opts.computeGrad) this.grads.fill(0);
    const logProb = new Float64Array(B);
    const locations = opts.mode === "hard-sample" ? new Int32Array(B * T) : undefined;
    let nll = 0;
    let penalty = 0;
    let objectiveExtra = 0;
    let entropySum = 0;
    let tokens = 0;
    for (let b = 0; b < B; b++) {
      const { acts, sums } = this.captionForward(batch, b, opts);
      if (locations) for (let t = 0; t < T; t++) locations[b * T + t] = acts.att[t].loc;
      if (opts.computeGrad) this.captionBackward(batch, b, opts, acts);
      logProb[b] = sums.logProb;
      nll -= sums.logProb / B;
      penalty += sums.penalty;
      objectiveExtra += sums.extra;
      entropySum += sums.entropySum;
      tokens += sums.tokens;
    }
    return {
      loss: nll + penalty + objectiveExtra,
      nll,
      penalty,
      logProb,
      attentionEntropy: tokens > 0 ? entropySum / tokens : 0,
      tokens,
      locations,
    };
  }

  /** Caption b's forward: the layers in order, step by step, into its activations record. */
  private captionForward(batch: TrainBatch, b: number, opts: StepOptions): { acts: CaptionActivations; sums: CaptionSums } {
    const { B, T, features } = batch;
    const cfg = this.config;
    const { numLocations: L, featureDim: D, embedDim: m, vocabSize: K } = cfg;
    const { w, F } = this;
    const ao = b * L * D;
    const hardSample = opts.mode === "hard-sample";
    const init = initStateForward(w, cfg, features, ao, F);
    const acts: CaptionActivations = {
      init, P: attentionProjectForward(w, cfg, features, ao, F), h: [init.h0], c: [init.c0], x: [], att: [], lstm: [], keep: [], out: [], probs: [],
      coverage: new Float64Array(L), reward: 0,
    };
    let logProb = 0;
    let tokens = 0;
    let entropySum = 0;
    for (let t = 0; t < T; t++) {
      const bt = b * T + t;
      const pick = !hardSample ? null
        : opts.locations ? () => opts.locations![bt]
        : (alpha: FloatArray) => sampleLocation(alpha, uniform((opts.seed ^ LOCATION_STREAM_XOR) >>> 0, bt));
      const att = attentionForward(w, cfg, acts.P, features, ao, acts.h[t], pick, F);
      const x = this.embed(batch.inputs[bt]);
      const st = lstmForward(w, cfg, x, acts.h[t], acts.c[t], att.z, F);
      const keep = dropoutKeep(opts.seed, bt, m, opts.dropout);
      const out = deepOutputForward(w, cfg, x, st.h, att.z, keep, opts.dropout, F);
      const probs = outputForward(w, cfg, out.ud, F);
      const mask = batch.mask[bt];
      const target = batch.targets[bt];
      if (!(target >= 0 && target < K)) throw new Error(`targets[${bt}] = ${target} out of range [0, ${K})`);
      logProb += mask * Math.log(probs[target]);
      tokens += mask;
      entropySum += mask * att.entropy;
      for (let i = 0; i < L; i++) acts.coverage[i] += mask * att.alpha[i];
      acts.x.push(x);
      acts.att.push(att);
      acts.lstm.push(st);
      acts.h.push(st.h);
      acts.c.push(st.c);
      acts.keep.push(keep);
      acts.out.push(out);
      acts.probs.push(probs);
    }
    // Doubly stochastic penalty over the masked steps.
    let pen = 0;
    for (let i = 0; i < L; i++) pen += (1 - acts.coverage[i]) ** 2;
    const penalty = (opts.alphaC / B) * pen;
    // Hard-sample surrogate terms (their values, for the reported objective).
    acts.reward = opts.rewards ? opts.rewards[b] : logProb - opts.baseline;
    let extra = 0;
    if (hardSample) {
      for (let t = 0; t < T; t++) {
        const mask = batch.mask[b * T + t];
        const att = acts.att[t];
        extra -= (opts.reinforceWeight / B) * acts.reward * mask * Math.log(att.alpha[att.loc]);
        extra -= (opts.entropyWeight / B) * mask * att.entropy;
      }
    }
    return { acts, sums: { logProb, penalty, extra, entropySum, tokens } };
  }

  /** Caption b's backward: each layer's backward in reverse order, steps from T−1 down to 0. */
  private captionBackward(batch: TrainBatch, b: number, opts: StepOptions, acts: CaptionActivations): void {
    const { B, T, features } = batch;
    const cfg = this.config;
    const { numLocations: L, featureDim: D, embedDim: m, hiddenDim: n, attnDim: A } = cfg;
    const { w, gw, F } = this;
    const ao = b * L * D;
    const p = opts.dropout;
    let dhNext: FloatArray = new F(n);
    let dcNext: FloatArray = new F(n);
    const dP = new F(L * A);
    for (let t = T - 1; t >= 0; t--) {
      const bt = b * T + t;
      const mask = batch.mask[bt];
      const att = acts.att[t];
      const hprev = acts.h[t];
      const dud = outputBackward(w, gw, cfg, acts.out[t].ud, acts.probs[t], batch.targets[bt], mask / B, F);
      const dOut = deepOutputBackward(w, gw, cfg, acts.h[t + 1], att.z, acts.out[t].u, acts.keep[t], p, dud, F);
      for (let j = 0; j < n; j++) dOut.dh[j] += dhNext[j];
      const dLstm = lstmBackward(w, gw, cfg, acts.x[t], hprev, acts.c[t], att.z, acts.lstm[t], dOut.dh, dcNext, F);
      const dx = dOut.dx;
      for (let j = 0; j < m; j++) dx[j] += dLstm.dx[j];
      const tok = batch.inputs[bt];
      for (let j = 0; j < m; j++) gw.E[tok * m + j] += dx[j];
      const dz = dOut.dz;
      for (let d = 0; d < D; d++) dz[d] += dLstm.dz[d];
      const dhAtt = attentionBackward(w, gw, cfg, features, ao, hprev, att, dz, {
        mask, coverage: acts.coverage, penaltyWeight: opts.alphaC / B,
        reward: acts.reward, reinforceWeight: opts.reinforceWeight / B, entropyWeight: opts.entropyWeight / B,
      }, dP, F);
      for (let j = 0; j < n; j++) dLstm.dhPrev[j] += dhAtt[j];
      dhNext = dLstm.dhPrev;
      dcNext = dLstm.dcPrev;
    }
    attentionProjectBackward(w, gw, cfg, features, ao, dP);
    initStateBackward(w, gw, cfg, acts.init, dhNext, dcNext, F);
  }

  // ---- decoding ----

  private decodeFeatures: Float32Array | null = null;
  private decodeP: FloatArray[] = [];

  prepareDecode(given: DecodeFeatures, numImages: number): DecodeContext {
    const { numLocations: L, featureDim: D } = this.config;
    if (given.length !== numImages * L * D) {
      throw new Error(`prepareDecode: features has ${given.length} values, expected numImages*L*D = ${numImages * L * D}`);
    }
    const features = asFloat32(given);
    this.decodeFeatures = features;
    this.decodeP = [];
    for (let im = 0; im < numImages; im++) this.decodeP.push(attentionProjectForward(this.w, this.config, features, im * L * D, this.F));
    return { numImages };
  }

  initialState(ctx: DecodeContext, rowImage: Int32Array): DecodeState {
    const { numLocations: L, featureDim: D, hiddenDim: n } = this.config;
    const N = rowImage.length;
    const h = new Float32Array(N * n);
    const c = new Float32Array(N * n);
    for (let r = 0; r < N; r++) {
      const im = checkRowImage(rowImage, r, ctx.numImages);
      const s = initStateForward(this.w, this.config, this.decodeFeatures!, im * L * D, this.F);
      h.set(s.h0, r * n);
      c.set(s.c0, r * n);
    }
    return { h, c };
  }

  decodeStep(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, sampleSeed?: number): DecodeStepResult {
    const cfg = this.config;
    const { numLocations: L, featureDim: D, hiddenDim: n, vocabSize: K, embedDim: m } = cfg;
    const { w, F } = this;
    const N = rowImage.length;
    const logProbs = new Float32Array(N * K);
    const alphaOut = new Float32Array(N * L);
    const betaOut = new Float32Array(N);
    const locations = sampleSeed === undefined ? undefined : new Int32Array(N);
    const a = this.decodeFeatures!;
    const keepAll = new Uint8Array(m).fill(1);
    for (let r = 0; r < N; r++) {
      const im = checkRowImage(rowImage, r, ctx.numImages);
      const hprev = new F(state.h.subarray(r * n, (r + 1) * n));
      const cprev = new F(state.c.subarray(r * n, (r + 1) * n));
      const pick = sampleSeed === undefined ? null : (alpha: FloatArray) => sampleLocation(alpha, uniform((sampleSeed ^ LOCATION_STREAM_XOR) >>> 0, r));
      const att = attentionForward(w, cfg, this.decodeP[im], a, im * L * D, hprev, pick, F);
      if (locations) locations[r] = att.loc;
      const x = this.embed(tokens[r]);
      const st = lstmForward(w, cfg, x, hprev, cprev, att.z, F);
      const { ud } = deepOutputForward(w, cfg, x, st.h, att.z, keepAll, 0, F);
      const probs = outputForward(w, cfg, ud, F);
      for (let k = 0; k < K; k++) logProbs[r * K + k] = Math.log(probs[k]);
      alphaOut.set(att.alpha, r * L);
      betaOut[r] = att.beta;
      state.h.set(st.h, r * n);
      state.c.set(st.c, r * n);
    }
    return locations ? { logProbs, alpha: alphaOut, beta: betaOut, locations } : { logProbs, alpha: alphaOut, beta: betaOut };
  }

  // ---- optimiser ----

  optimizerState(kind: OptimizerKind): FloatArray[] {
    let s = this.optState[kind];
    if (!s) {
      s = kind === "adam" ? [new this.F(this.params.length), new this.F(this.params.length)] : [new this.F(this.params.length)];
      this.optState[kind] = s;
    }
    return s;
  }

  optimizerStep(o: OptimizerSettings, step: number): number {
    return referenceOptimizerStep(this.params, this.grads, this.optimizerState(o.kind), o, step);
  }

  dispose(): void {}
}

/** docs/engine.md "Optimisers", literally. Returns the gradient norm before clipping. */
export function referenceOptimizerStep(params: FloatArray, grads: FloatArray, state: FloatArray[], o: OptimizerSettings, step: number): number {
  let sq = 0;
  for (let i = 0; i < grads.length; i++) sq += grads[i] * grads[i];
  const norm = Math.sqrt(sq);
  const scale = o.clipNorm > 0 && norm > o.clipNorm ? o.clipNorm / norm : 1;
  const decay = 1 - o.lr * o.weightDecay;
  if (o.kind === "adam") {
    const [mState, vState] = state;
    const bc1 = 1 - o.beta1 ** step;
    const bc2 = 1 - o.beta2 ** step;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i] * scale;
      mState[i] = o.beta1 * mState[i] + (1 - o.beta1) * g;
      vState[i] = o.beta2 * vState[i] + (1 - o.beta2) * g * g;
      const mhat = mState[i] / bc1;
      const vhat = vState[i] / bc2;
      params[i] = params[i] * decay - (o.lr * mhat) / (Math.sqrt(vhat) + o.eps);
    }
  } else {
    const [vState] = state;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i] * scale;
      vState[i] = o.rho * vState[i] + (1 - o.rho) * g * g;
      params[i] = params[i] * decay - (o.lr * g) / (Math.sqrt(vState[i]) + o.eps);
    }
  }
  return norm;
}

/** Inverse-CDF sampling of a location (docs/engine.md "Random streams"). */
export function sampleLocation(alpha: ArrayLike<number>, v: number): number {
  let acc = 0;
  for (let i = 0; i < alpha.length; i++) {
    acc += alpha[i];
    if (acc > v) return i;
  }
  return alpha.length - 1;
}

/** Entropy (nats) of an attention distribution α. */
export function entropy(alpha: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < alpha.length; i++) if (alpha[i] > 0) h -= alpha[i] * Math.log(alpha[i]);
  return h;
}

function checkRowImage(rowImage: Int32Array, r: number, numImages: number): number {
  const im = rowImage[r];
  if (!(im >= 0 && im < numImages)) throw new Error(`rowImage[${r}] = ${im} out of range [0, ${numImages})`);
  return im;
}

/** Validates a training batch's shapes; errors name the field. */
export function checkBatch(batch: TrainBatch, L: number, D: number, K: number): void {
  const { B, T } = batch;
  if (!(Number.isInteger(B) && B > 0)) throw new Error(`batch.B must be a positive integer (got ${B})`);
  if (!(Number.isInteger(T) && T > 0)) throw new Error(`batch.T must be a positive integer (got ${T})`);
  if (batch.features.length !== B * L * D) {
    throw new Error(`batch.features has ${batch.features.length} floats, expected B*L*D = ${B}*${L}*${D} = ${B * L * D} (mismatched feature size?)`);
  }
  for (const f of ["inputs", "targets", "mask"] as const) {
    if (batch[f].length !== B * T) throw new Error(`batch.${f} has ${batch[f].length} entries, expected B*T = ${B * T}`);
  }
  void K;
}
