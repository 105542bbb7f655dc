/**
 * The TypeScript reference decoder: a literal, caption-by-caption transcription of
 * docs/engine.md. It is the oracle of the tests (float64 params give float64 arithmetic, which
 * finite differences check) and the fallback where the native addon is absent. Clarity wins
 * over speed here; the native engine is the fast path.
 */
import type { ModelConfig } from "./config.js";
import type {
  DecodeContext,
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
import { LOCATION_STREAM_XOR, uniform } from "./rng.js";

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

/** Everything one caption's forward keeps for its backward. */
interface CaptionTape {
  abar: FloatArray;
  P: FloatArray; // [L, A]
  h: FloatArray[]; // h[t + 1] = h_t, h[0] = h_0
  c: FloatArray[];
  S: FloatArray[]; // [L, A] per step
  alpha: FloatArray[]; // [L]
  beta: number[];
  z: FloatArray[]; // [D]
  ctx: FloatArray[]; // [D] Σ α a, or a_s
  gates: FloatArray[]; // activated [i, f, o, g], [4n]
  u: FloatArray[]; // [m] tanh output before dropout
  keep: Uint8Array[]; // dropout mask [m]
  probs: FloatArray[]; // softmax [K]
  loc: Int32Array;
}

export class ReferenceEngine implements DecoderEngine {
  readonly kind = "reference" as const;
  readonly grads: FloatArray;
  private readonly layout: ParamLayout;
  private readonly F: Ctor;
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
  }

  private p(name: ParamName): FloatArray {
    return view(this.params, this.layout, name);
  }
  private g(name: ParamName): FloatArray {
    return view(this.grads, this.layout, name);
  }

  // ---- forward pieces shared by training and decoding ----

  private initState(a: Float32Array, ao: number): { abar: FloatArray; h0: FloatArray; c0: FloatArray; P: FloatArray } {
    const { featureDim: D, numLocations: L, hiddenDim: n, attnDim: A } = this.config;
    const abar = new this.F(D);
    for (let i = 0; i < L; i++) for (let d = 0; d < D; d++) abar[d] += a[ao + i * D + d];
    for (let d = 0; d < D; d++) abar[d] /= L;
    const h0 = new this.F(n);
    const c0 = new this.F(n);
    h0.set(this.p("b_ih"));
    c0.set(this.p("b_ic"));
    vecMatAdd(h0, abar, 0, this.p("W_ih"), D, n);
    vecMatAdd(c0, abar, 0, this.p("W_ic"), D, n);
    for (let j = 0; j < n; j++) {
      h0[j] = Math.tanh(h0[j]);
      c0[j] = Math.tanh(c0[j]);
    }
    const P = new this.F(L * A);
    const ba = this.p("b_a");
    const Wa = this.p("W_a");
    for (let i = 0; i < L; i++) {
      const row = P.subarray(i * A, (i + 1) * A);
      row.set(ba);
      vecMatAdd(row, a, ao + i * D, Wa, D, A);
    }
    return { abar, h0, c0, P };
  }

  /** Attention of one step: S = tanh(P + q), α = softmax(S w_att + b_att), β. */
  private attend(P: FloatArray, hprev: FloatArray): { S: FloatArray; alpha: FloatArray; beta: number } {
    const { numLocations: L, attnDim: A, hiddenDim: n } = this.config;
    const q = new this.F(A);
    vecMatAdd(q, hprev, 0, this.p("W_h"), n, A);
    const watt = this.p("w_att");
    const batt = this.p("b_att")[0];
    const S = new this.F(L * A);
    const alpha = new this.F(L);
    let emax = -Infinity;
    for (let i = 0; i < L; i++) {
      let e = batt;
      for (let k = 0; k < A; k++) {
        const s = Math.tanh(P[i * A + k] + q[k]);
        S[i * A + k] = s;
        e += s * watt[k];
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
    const wb = this.p("w_beta");
    let bpre = this.p("b_beta")[0];
    for (let j = 0; j < n; j++) bpre += hprev[j] * wb[j];
    return { S, alpha, beta: sigmoid(bpre) };
  }

  /** Context Σ α_i a_i (loc < 0) or a_loc. */
  private context(a: Float32Array, ao: number, alpha: FloatArray, loc: number): FloatArray {
    const { featureDim: D, numLocations: L } = this.config;
    const ctx = new this.F(D);
    if (loc >= 0) {
      for (let d = 0; d < D; d++) ctx[d] = a[ao + loc * D + d];
    } else {
      for (let i = 0; i < L; i++) {
        const w = alpha[i];
        for (let d = 0; d < D; d++) ctx[d] += w * a[ao + i * D + d];
      }
    }
    return ctx;
  }

  /** LSTM step: returns activated gates [i, f, o, g] and the new (h, c). */
  private lstm(x: FloatArray, hprev: FloatArray, cprev: FloatArray, z: FloatArray): { gates: FloatArray; h: FloatArray; c: FloatArray } {
    const { embedDim: m, hiddenDim: n, featureDim: D } = this.config;
    const G = new this.F(4 * n);
    G.set(this.p("b"));
    vecMatAdd(G, x, 0, this.p("W_x"), m, 4 * n);
    vecMatAdd(G, hprev, 0, this.p("U"), n, 4 * n);
    vecMatAdd(G, z, 0, this.p("W_z"), D, 4 * n);
    const h = new this.F(n);
    const c = new this.F(n);
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

  /** Deep output: u = tanh(x + h L_h + z L_z). */
  private deepOutput(x: FloatArray, h: FloatArray, z: FloatArray): FloatArray {
    const { embedDim: m, hiddenDim: n, featureDim: D } = this.config;
    const u = new this.F(m);
    u.set(x);
    vecMatAdd(u, h, 0, this.p("L_h"), n, m);
    vecMatAdd(u, z, 0, this.p("L_z"), D, m);
    for (let j = 0; j < m; j++) u[j] = Math.tanh(u[j]);
    return u;
  }

  /** Softmax of ud L_o + b_o, in place into a new array. */
  private outputProbs(ud: FloatArray): FloatArray {
    const { embedDim: m, vocabSize: K } = this.config;
    const logits = new this.F(K);
    logits.set(this.p("b_o"));
    vecMatAdd(logits, ud, 0, this.p("L_o"), m, K);
    let mx = -Infinity;
    for (let k = 0; k < K; k++) if (logits[k] > mx) mx = logits[k];
    let sum = 0;
    for (let k = 0; k < K; k++) {
      logits[k] = Math.exp(logits[k] - mx);
      sum += logits[k];
    }
    for (let k = 0; k < K; k++) logits[k] /= sum;
    return logits;
  }

  private embed(token: number): FloatArray {
    const { embedDim: m, vocabSize: K } = this.config;
    if (!(token >= 0 && token < K)) throw new Error(`token id ${token} out of range [0, ${K})`);
    return this.p("E").subarray(token * m, (token + 1) * m) as FloatArray;
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
      const r = this.captionForwardBackward(batch, b, opts, locations);
      logProb[b] = r.logProb;
      nll -= r.logProb / B;
      penalty += r.penalty;
      objectiveExtra += r.extra;
      entropySum += r.entropySum;
      tokens += r.tokens;
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

  private captionForwardBackward(
    batch: TrainBatch,
    b: number,
    opts: StepOptions,
    locations: Int32Array | undefined,
  ): { logProb: number; penalty: number; extra: number; entropySum: number; tokens: number } {
    const { B, T, features } = batch;
    const { numLocations: L, featureDim: D, embedDim: m, hiddenDim: n, attnDim: A, vocabSize: K } = this.config;
    const ao = b * L * D;
    const p = opts.dropout;
    const hardSample = opts.mode === "hard-sample";

    // ---- forward ----
    const init = this.initState(features, ao);
    const tape: CaptionTape = {
      abar: init.abar, P: init.P, h: [init.h0], c: [init.c0], S: [], alpha: [], beta: [], z: [], ctx: [],
      gates: [], u: [], keep: [], probs: [], loc: new Int32Array(T).fill(-1),
    };
    let logProb = 0;
    let tokens = 0;
    let entropySum = 0;
    const entropies: number[] = [];
    for (let t = 0; t < T; t++) {
      const bt = b * T + t;
      const hprev = tape.h[t];
      const att = this.attend(tape.P, hprev);
      let loc = -1;
      if (hardSample) {
        loc = opts.locations ? opts.locations[bt] : sampleLocation(att.alpha, uniform((opts.seed ^ LOCATION_STREAM_XOR) >>> 0, bt));
        if (!(loc >= 0 && loc < L)) throw new Error(`locations[${bt}] = ${loc} out of range [0, ${L})`);
        locations![bt] = loc;
      }
      tape.loc[t] = loc;
      const ctx = this.context(features, ao, att.alpha, loc);
      const z = new this.F(D);
      for (let d = 0; d < D; d++) z[d] = att.beta * ctx[d];
      const x = this.embed(batch.inputs[bt]);
      const st = this.lstm(x, hprev, tape.c[t], z);
      const u = this.deepOutput(x, st.h, z);
      const keep = new Uint8Array(m);
      const ud = new this.F(m);
      for (let j = 0; j < m; j++) {
        keep[j] = p > 0 ? (uniform(opts.seed, bt * m + j) >= p ? 1 : 0) : 1;
        ud[j] = keep[j] ? u[j] / (1 - p) : 0;
      }
      const probs = this.outputProbs(ud);
      const mask = batch.mask[bt];
      const target = batch.targets[bt];
      if (!(target >= 0 && target < K)) throw new Error(`targets[${bt}] = ${target} out of range [0, ${K})`);
      logProb += mask * Math.log(probs[target]);
      tokens += mask;
      const H = entropy(att.alpha);
      entropies.push(H);
      entropySum += mask * H;
      tape.S.push(att.S);
      tape.alpha.push(att.alpha);
      tape.beta.push(att.beta);
      tape.ctx.push(ctx);
      tape.z.push(z);
      tape.gates.push(st.gates);
      tape.h.push(st.h);
      tape.c.push(st.c);
      tape.u.push(u);
      tape.keep.push(keep);
      tape.probs.push(probs);
    }
    // Doubly stochastic penalty over the masked steps.
    const colSum = new Float64Array(L);
    for (let t = 0; t < T; t++) {
      const mask = batch.mask[b * T + t];
      for (let i = 0; i < L; i++) colSum[i] += mask * tape.alpha[t][i];
    }
    let pen = 0;
    for (let i = 0; i < L; i++) pen += (1 - colSum[i]) ** 2;
    const penalty = (opts.alphaC / B) * pen;
    // Hard-sample surrogate terms (their values, for the reported objective).
    const reward = opts.rewards ? opts.rewards[b] : logProb - opts.baseline;
    let extra = 0;
    if (hardSample) {
      for (let t = 0; t < T; t++) {
        const mask = batch.mask[b * T + t];
        extra -= (opts.reinforceWeight / B) * reward * mask * Math.log(tape.alpha[t][tape.loc[t]]);
        extra -= (opts.entropyWeight / B) * mask * entropies[t];
      }
    }
    if (!opts.computeGrad) return { logProb, penalty, extra, entropySum, tokens };

    // ---- backward ----
    const dE = this.g("E");
    let dhNext = new this.F(n);
    let dcNext = new this.F(n);
    const dP = new this.F(L * A);
    const watt = this.p("w_att");
    const dwatt = this.g("w_att");
    const Wh = this.p("W_h");
    const wbeta = this.p("w_beta");
    for (let t = T - 1; t >= 0; t--) {
      const bt = b * T + t;
      const mask = batch.mask[bt];
      const x = this.embed(batch.inputs[bt]);
      const h = tape.h[t + 1];
      const hprev = tape.h[t];
      const c = tape.c[t + 1];
      const cprev = tape.c[t];
      const z = tape.z[t];
      const u = tape.u[t];
      const keep = tape.keep[t];
      // Output layer.
      const dlogits = new this.F(K);
      const probs = tape.probs[t];
      const target = batch.targets[bt];
      for (let k = 0; k < K; k++) dlogits[k] = (probs[k] - (k === target ? 1 : 0)) * (mask / B);
      const ud = new this.F(m);
      for (let j = 0; j < m; j++) ud[j] = keep[j] ? u[j] / (1 - p) : 0;
      const dud = new this.F(m);
      vecMatBackward(dlogits, ud, 0, this.p("L_o"), this.g("L_o"), dud, 0, m, K);
      const dbo = this.g("b_o");
      for (let k = 0; k < K; k++) dbo[k] += dlogits[k];
      const dpreU = new this.F(m);
      for (let j = 0; j < m; j++) dpreU[j] = (keep[j] ? dud[j] / (1 - p) : 0) * (1 - u[j] * u[j]);
      const dx = new this.F(m);
      dx.set(dpreU);
      const dh = new this.F(n);
      const dz = new this.F(D);
      vecMatBackward(dpreU, h, 0, this.p("L_h"), this.g("L_h"), dh, 0, n, m);
      vecMatBackward(dpreU, z, 0, this.p("L_z"), this.g("L_z"), dz, 0, D, m);
      // LSTM.
      for (let j = 0; j < n; j++) dh[j] += dhNext[j];
      const G = tape.gates[t];
      const dG = new this.F(4 * n);
      const dcPrev = new this.F(n);
      for (let j = 0; j < n; j++) {
        const ig = G[j], fg = G[n + j], og = G[2 * n + j], gg = G[3 * n + j];
        const tc = Math.tanh(c[j]);
        const dc = dcNext[j] + dh[j] * og * (1 - tc * tc);
        dG[j] = dc * gg * ig * (1 - ig);
        dG[n + j] = dc * cprev[j] * fg * (1 - fg);
        dG[2 * n + j] = dh[j] * tc * og * (1 - og);
        dG[3 * n + j] = dc * ig * (1 - gg * gg);
        dcPrev[j] = dc * fg;
      }
      const db = this.g("b");
      for (let j = 0; j < 4 * n; j++) db[j] += dG[j];
      const dhPrev = new this.F(n);
      vecMatBackward(dG, x, 0, this.p("W_x"), this.g("W_x"), dx, 0, m, 4 * n);
      vecMatBackward(dG, hprev, 0, this.p("U"), this.g("U"), dhPrev, 0, n, 4 * n);
      vecMatBackward(dG, z, 0, this.p("W_z"), this.g("W_z"), dz, 0, D, 4 * n);
      // Embedding of the input word.
      const tok = batch.inputs[bt];
      for (let j = 0; j < m; j++) dE[tok * m + j] += dx[j];
      // Context and gate β.
      const alpha = tape.alpha[t];
      const beta = tape.beta[t];
      const ctx = tape.ctx[t];
      let dbeta = 0;
      for (let d = 0; d < D; d++) dbeta += dz[d] * ctx[d];
      const dalpha = new Float64Array(L);
      if (!hardSample) {
        for (let i = 0; i < L; i++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += dz[d] * batch.features[ao + i * D + d];
          dalpha[i] = beta * s;
        }
      }
      for (let i = 0; i < L; i++) dalpha[i] += -2 * (opts.alphaC / B) * mask * (1 - colSum[i]);
      let dot = 0;
      for (let i = 0; i < L; i++) dot += alpha[i] * dalpha[i];
      const de = new Float64Array(L);
      for (let i = 0; i < L; i++) de[i] = alpha[i] * (dalpha[i] - dot);
      if (hardSample) {
        const H = entropies[t];
        for (let i = 0; i < L; i++) {
          de[i] += -(opts.reinforceWeight / B) * reward * mask * ((i === tape.loc[t] ? 1 : 0) - alpha[i]);
          if (alpha[i] > 0) de[i] += (opts.entropyWeight / B) * mask * alpha[i] * (Math.log(alpha[i]) + H);
        }
      }
      // Attention MLP.
      const S = tape.S[t];
      const dq = new this.F(A);
      let dbatt = 0;
      for (let i = 0; i < L; i++) {
        dbatt += de[i];
        for (let k = 0; k < A; k++) {
          const s = S[i * A + k];
          dwatt[k] += de[i] * s;
          const dpre = de[i] * watt[k] * (1 - s * s);
          dP[i * A + k] += dpre;
          dq[k] += dpre;
        }
      }
      this.g("b_att")[0] += dbatt;
      vecMatBackward(dq, hprev, 0, Wh, this.g("W_h"), dhPrev, 0, n, A);
      const dpreBeta = dbeta * beta * (1 - beta);
      const dwbeta = this.g("w_beta");
      for (let j = 0; j < n; j++) {
        dwbeta[j] += dpreBeta * hprev[j];
        dhPrev[j] += dpreBeta * wbeta[j];
      }
      this.g("b_beta")[0] += dpreBeta;
      dhNext = dhPrev;
      dcNext = dcPrev;
    }
    // Projection W_a a + b_a, shared by all steps.
    const dba = this.g("b_a");
    for (let i = 0; i < L; i++) {
      const dRow = dP.subarray(i * A, (i + 1) * A) as FloatArray;
      for (let k = 0; k < A; k++) dba[k] += dRow[k];
      vecMatBackward(dRow, batch.features, ao + i * D, this.p("W_a"), this.g("W_a"), null, 0, D, A);
    }
    // Initial state.
    const dpreH0 = new this.F(n);
    const dpreC0 = new this.F(n);
    const h0 = tape.h[0];
    const c0 = tape.c[0];
    for (let j = 0; j < n; j++) {
      dpreH0[j] = dhNext[j] * (1 - h0[j] * h0[j]);
      dpreC0[j] = dcNext[j] * (1 - c0[j] * c0[j]);
    }
    vecMatBackward(dpreH0, tape.abar, 0, this.p("W_ih"), this.g("W_ih"), null, 0, D, n);
    vecMatBackward(dpreC0, tape.abar, 0, this.p("W_ic"), this.g("W_ic"), null, 0, D, n);
    const dbih = this.g("b_ih");
    const dbic = this.g("b_ic");
    for (let j = 0; j < n; j++) {
      dbih[j] += dpreH0[j];
      dbic[j] += dpreC0[j];
    }
    return { logProb, penalty, extra, entropySum, tokens };
  }

  // ---- decoding ----

  private decodeFeatures: Float32Array | null = null;
  private decodeP: FloatArray[] = [];

  prepareDecode(features: Float32Array, numImages: number): DecodeContext {
    const { numLocations: L, featureDim: D } = this.config;
    if (features.length !== numImages * L * D) {
      throw new Error(`prepareDecode: features has ${features.length} floats, expected numImages*L*D = ${numImages * L * D}`);
    }
    this.decodeFeatures = features;
    this.decodeP = [];
    for (let im = 0; im < numImages; im++) this.decodeP.push(this.initState(features, im * L * D).P);
    return { numImages };
  }

  initialState(ctx: DecodeContext, rowImage: Int32Array): DecodeState {
    const { numLocations: L, featureDim: D, hiddenDim: n } = this.config;
    const N = rowImage.length;
    const h = new Float32Array(N * n);
    const c = new Float32Array(N * n);
    for (let r = 0; r < N; r++) {
      const im = checkRowImage(rowImage, r, ctx.numImages);
      const s = this.initState(this.decodeFeatures!, im * L * D);
      h.set(s.h0, r * n);
      c.set(s.c0, r * n);
    }
    return { h, c };
  }

  decodeStep(ctx: DecodeContext, rowImage: Int32Array, tokens: Int32Array, state: DecodeState, sampleSeed?: number): DecodeStepResult {
    const { numLocations: L, featureDim: D, hiddenDim: n, vocabSize: K } = this.config;
    const N = rowImage.length;
    const logProbs = new Float32Array(N * K);
    const alphaOut = new Float32Array(N * L);
    const betaOut = new Float32Array(N);
    const locations = sampleSeed === undefined ? undefined : new Int32Array(N);
    const a = this.decodeFeatures!;
    for (let r = 0; r < N; r++) {
      const im = checkRowImage(rowImage, r, ctx.numImages);
      const ao = im * L * D;
      const hprev = new this.F(state.h.subarray(r * n, (r + 1) * n));
      const cprev = new this.F(state.c.subarray(r * n, (r + 1) * n));
      const att = this.attend(this.decodeP[im], hprev);
      const loc = sampleSeed === undefined ? -1 : sampleLocation(att.alpha, uniform((sampleSeed ^ LOCATION_STREAM_XOR) >>> 0, r));
      if (locations) locations[r] = loc;
      const c = this.context(a, ao, att.alpha, loc);
      const z = new this.F(D);
      for (let d = 0; d < D; d++) z[d] = att.beta * c[d];
      const x = this.embed(tokens[r]);
      const st = this.lstm(x, hprev, cprev, z);
      const u = this.deepOutput(x, st.h, z);
      const probs = this.outputProbs(u);
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
