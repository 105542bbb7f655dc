// Each layer of the native engine alone against the same layer of the TypeScript reference
// (src/model/reference.ts), forward and backward, on random inputs: initial state, attention
// (soft and hard), LSTM and deep output. A wrong term shows here in the layer that has it,
// not only as a changed gradient of the whole step (engine.test.ts). Tolerances: compare.ts.
//
// attnDim 24 = 16 + 8: the AVX2 attention kernel and its scalar tail both run; numLocations
// 9 = two 4-location blocks + 1 for the unrolled context loops.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig, type ModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import {
  attentionBackward, attentionForward, attentionProjectBackward, attentionProjectForward, deepOutputBackward, deepOutputForward,
  dropoutKeep, initStateBackward, initStateForward, lstmBackward, lstmForward, tensorViews, type Tensors,
} from "../../src/model/reference.js";
import { SeededRandom } from "../../src/util/rng.js";
import { loadNativeAddon, type EngineDims } from "../../src/native/engine.js";
import { closeTensor, makeParams } from "./compare.js";

process.env.SAT_GEMM_SPLIT_MIN ??= "0";
const addon = loadNativeAddon();
const skip = addon ? false : "native addon not built (npm run build:native)";

const cfg: ModelConfig = resolveModelConfig({ vocabSize: 29, embedDim: 10, hiddenDim: 14, attnDim: 24, featureDim: 11, numLocations: 9 });
const dims: EngineDims = { K: cfg.vocabSize, m: cfg.embedDim, n: cfg.hiddenDim, A: cfg.attnDim, D: cfg.featureDim, L: cfg.numLocations };
const { embedDim: m, hiddenDim: n, featureDim: D, numLocations: L } = cfg;
const layout = paramLayout(cfg);
const B = 5;
const F64 = Float64Array;

function setup(seed: number): { params: Float32Array; w: Tensors; gradsRef: Float64Array; gw: Tensors; rng: SeededRandom } {
  const params = makeParams(seed, cfg);
  const gradsRef = new Float64Array(layout.total);
  return { params, w: tensorViews(Float64Array.from(params), layout), gradsRef, gw: tensorViews(gradsRef, layout), rng: new SeededRandom(seed + 50) };
}
const randn = (rng: SeededRandom, len: number, scale = 1): Float32Array => new Float32Array(len).map(() => scale * rng.normal());
/** Row r of a [rows, width] array, as float64 for the reference. */
const row = (a: Float32Array, r: number, width: number): Float64Array => Float64Array.from(a.subarray(r * width, (r + 1) * width));

/** Every gradient slot of the native layer against the reference's (the untouched ones are 0 in both). */
function closeGrads(name: string, got: Float32Array, want: Float64Array): void {
  for (const s of layout.order) closeTensor(`${name} d${s.name}`, got.subarray(s.offset, s.offset + s.size), want.subarray(s.offset, s.offset + s.size));
}
/** The rows of the reference, laid end to end. */
function rows(parts: ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(parts.reduce((k, p) => k + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test("initial state: forward and backward = reference", { skip }, () => {
  const { params, w, gradsRef, gw, rng } = setup(1);
  const features = randn(rng, B * L * D);
  const fwd = addon!.layers.initStateForward({ dims, params, B, features });
  const ref = Array.from({ length: B }, (_, b) => initStateForward(w, cfg, features, b * L * D, F64));
  closeTensor("abar", fwd.abar, rows(ref.map((r) => r.abar)));
  closeTensor("h0", fwd.h0, rows(ref.map((r) => r.h0)));
  closeTensor("c0", fwd.c0, rows(ref.map((r) => r.c0)));
  const dh0 = randn(rng, B * n);
  const dc0 = randn(rng, B * n);
  const bwd = addon!.layers.initStateBackward({ dims, params, B, features, dh0, dc0 });
  ref.forEach((r, b) => initStateBackward(w, gw, cfg, r, row(dh0, b, n), row(dc0, b, n), F64));
  closeGrads("init state", bwd.grads, gradsRef);
});

for (const sample of [false, true]) {
  test(`attention (${sample ? "hard, given locations" : "soft"}): forward and backward = reference`, { skip }, () => {
    const { params, w, gradsRef, gw, rng } = setup(sample ? 3 : 2);
    const features = randn(rng, B * L * D);
    const hprev = randn(rng, B * n, 0.8);
    const locations = sample ? new Int32Array(B).map(() => rng.int(L)) : undefined;
    const inputs = { dims, params, B, features, hprev, sample, locations };
    const fwd = addon!.layers.attentionForward(inputs);
    const ref = Array.from({ length: B }, (_, b) => {
      const P = attentionProjectForward(w, cfg, features, b * L * D, F64);
      return { P, rec: attentionForward(w, cfg, P, features, b * L * D, row(hprev, b, n), locations ? () => locations[b] : null, F64) };
    });
    closeTensor("alpha", fwd.alpha, rows(ref.map((r) => r.rec.alpha)));
    closeTensor("beta", fwd.beta, ref.map((r) => r.rec.beta));
    closeTensor("ctx", fwd.ctx, rows(ref.map((r) => r.rec.ctx)));
    closeTensor("z", fwd.z, rows(ref.map((r) => r.rec.z)));
    closeTensor("entropy", fwd.entropy, ref.map((r) => r.rec.entropy));
    if (sample) closeTensor("log alpha_s", fwd.logAlphaS!, ref.map((r) => Math.log(r.rec.alpha[r.rec.loc])));

    const dz = randn(rng, B * D);
    const cov = new Float32Array(B * L).map(() => 2 * rng.next());
    const mask = Float32Array.from([1, 1, 0, 1, 0.5]);
    const rewards = randn(rng, B, 3);
    const terms = { lambda: 0.7, lambdaR: 0.3, lambdaE: 0.05, invB: 1 / B };
    const bwd = addon!.layers.attentionBackward({ ...inputs, dz, cov, mask, rewards, ...terms });
    const dh = ref.map((r, b) => {
      const dP = new F64(L * cfg.attnDim);
      const objective = {
        mask: mask[b], coverage: cov.subarray(b * L, (b + 1) * L), penaltyWeight: terms.lambda * terms.invB,
        reward: rewards[b], reinforceWeight: terms.lambdaR * terms.invB, entropyWeight: terms.lambdaE * terms.invB,
      };
      const d = attentionBackward(w, gw, cfg, features, b * L * D, row(hprev, b, n), r.rec, row(dz, b, D), objective, dP, F64);
      attentionProjectBackward(w, gw, cfg, features, b * L * D, dP);
      return d;
    });
    closeTensor("dh_prev", bwd.dh, rows(dh));
    // db_att = Σ de is identically 0 (softmax is shift invariant) except for the hard terms;
    // compare it on dw_att's scale, as engine.test.ts does.
    const watt = layout.slots.w_att;
    let scale = 0;
    for (let i = watt.offset; i < watt.offset + watt.size; i++) scale = Math.max(scale, Math.abs(gradsRef[i]));
    const batt = layout.slots.b_att.offset;
    closeTensor("attention db_att", bwd.grads.subarray(batt, batt + 1), gradsRef.subarray(batt, batt + 1), 2e-4, scale);
    bwd.grads[batt] = 0;
    gradsRef[batt] = 0;
    closeGrads("attention", bwd.grads, gradsRef);
  });
}

test("LSTM step: forward and backward = reference", { skip }, () => {
  const { params, w, gradsRef, gw, rng } = setup(4);
  const inputs = { dims, params, B, X: randn(rng, B * m), hprev: randn(rng, B * n, 0.8), z: randn(rng, B * D), cprev: randn(rng, B * n) };
  const fwd = addon!.layers.lstmForward(inputs);
  const ref = Array.from({ length: B }, (_, b) =>
    lstmForward(w, cfg, row(inputs.X, b, m), row(inputs.hprev, b, n), row(inputs.cprev, b, n), row(inputs.z, b, D), F64));
  closeTensor("gates", fwd.gates, rows(ref.map((r) => r.gates)));
  closeTensor("c", fwd.c, rows(ref.map((r) => r.c)));
  closeTensor("h", fwd.h, rows(ref.map((r) => r.h)));
  const dh = randn(rng, B * n);
  const dcNext = randn(rng, B * n);
  const bwd = addon!.layers.lstmBackward({ ...inputs, dh, dcNext });
  const d = ref.map((r, b) =>
    lstmBackward(w, gw, cfg, row(inputs.X, b, m), row(inputs.hprev, b, n), row(inputs.cprev, b, n), row(inputs.z, b, D), r,
      row(dh, b, n), row(dcNext, b, n), F64));
  closeTensor("dX", bwd.dX, rows(d.map((x) => x.dx)));
  closeTensor("dh_prev", bwd.dhprev, rows(d.map((x) => x.dhPrev)));
  closeTensor("dz", bwd.dz, rows(d.map((x) => x.dz)));
  closeTensor("dc_prev", bwd.dcprev, rows(d.map((x) => x.dcPrev)));
  closeGrads("lstm", bwd.grads, gradsRef);
});

for (const dropout of [0, 0.4]) {
  test(`deep output, dropout ${dropout}: forward and backward = reference`, { skip }, () => {
    const { params, w, gradsRef, gw, rng } = setup(5);
    const R = 7;
    const inputs = { dims, params, R, X: randn(rng, R * m), H: randn(rng, R * n, 0.8), Z: randn(rng, R * D), dropout, seed: 4242 };
    const fwd = addon!.layers.deepOutputForward(inputs);
    const keep = Array.from({ length: R }, (_, r) => dropoutKeep(inputs.seed, r, m, dropout));
    if (dropout > 0) assert.ok(keep.some((k) => k.includes(0)) && keep.some((k) => k.includes(1)), "the mask drops some units and keeps others");
    const ref = keep.map((k, r) => deepOutputForward(w, cfg, row(inputs.X, r, m), row(inputs.H, r, n), row(inputs.Z, r, D), k, dropout, F64));
    closeTensor("u", fwd.u, rows(ref.map((x) => x.u)));
    closeTensor("ud", fwd.ud, rows(ref.map((x) => x.ud)));
    const dud = randn(rng, R * m);
    const bwd = addon!.layers.deepOutputBackward({ ...inputs, dud });
    const d = ref.map((x, r) => deepOutputBackward(w, gw, cfg, row(inputs.H, r, n), row(inputs.Z, r, D), x.u, keep[r], dropout, row(dud, r, m), F64));
    closeTensor("dX", bwd.dX, rows(d.map((x) => x.dx)));
    closeTensor("dH", bwd.dH, rows(d.map((x) => x.dh)));
    closeTensor("dZ", bwd.dZ, rows(d.map((x) => x.dz)));
    closeGrads("deep output", bwd.grads, gradsRef);
  });
}
