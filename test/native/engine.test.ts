// The native engine against the TypeScript reference on the same weights and batch: loss and
// every gradient tensor, in every training mode, plus the optimisers and decoding.
//
// attnDim 20 = 16 + 4: the AVX2 attention kernel and its scalar tail both run. The
// tolerances (and why) are in compare.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig, type ModelConfig } from "../../src/model/config.js";
import { ReferenceEngine, referenceOptimizerStep } from "../../src/model/reference.js";
import { paramLayout } from "../../src/model/layout.js";
import type { OptimizerSettings, StepMode, StepOptions, TrainBatch } from "../../src/model/engine.js";
import { SeededRandom } from "../../src/util/rng.js";
import { decodeHalf, encodeHalf } from "../../src/data/float16.js";
import { RTOL, closeScalar, closeTensor, makeParams as makeParamsFor } from "./compare.js";
import { createNativeEngine, loadNativeAddon } from "../../src/native/engine.js";

// Every GEMM, however small, takes the two-thread split path (read when the addon loads).
process.env.SAT_GEMM_SPLIT_MIN ??= "0";
const addon = loadNativeAddon();
const skip = addon ? false : "native addon not built (npm run build:native); set SAT_REQUIRE_NATIVE=1 to make this a failure";
if (!addon && process.env.SAT_REQUIRE_NATIVE === "1") {
  test("native addon is built (SAT_REQUIRE_NATIVE=1)", () => {
    assert.fail("build/Release/sat_native.node is missing: npm run build:native");
  });
}

const config: ModelConfig = resolveModelConfig({
  vocabSize: 23, embedDim: 8, hiddenDim: 12, attnDim: 20, featureDim: 9, numLocations: 7,
});
const B = 3;
const T = 4;

const makeParams = (seed: number, cfg: ModelConfig = config): Float32Array => makeParamsFor(seed, cfg);

function makeBatch(seed: number, cfg: ModelConfig = config, B_ = B, T_ = T): TrainBatch {
  const B = B_;
  const T = T_;
  const rng = new SeededRandom(seed);
  const { numLocations: L, featureDim: D, vocabSize: K } = cfg;
  const features = new Float32Array(B * L * D).map(() => rng.normal());
  const inputs = new Int32Array(B * T).map(() => rng.int(K));
  const targets = new Int32Array(B * T).map(() => rng.int(K));
  const mask = new Float32Array(B * T).fill(1);
  // partial mask: caption 1 is two tokens shorter, caption 2 one token shorter
  mask[1 * T + T - 1] = 0;
  mask[1 * T + T - 2] = 0;
  mask[2 * T + T - 1] = 0;
  return { B, T, features, inputs, targets, mask };
}

function compareStep(mode: StepMode, dropout: number, seed: number, cfg: ModelConfig = config, B = 3, T = 4): void {
  const params = makeParams(seed, cfg);
  const batch = makeBatch(seed + 100, cfg, B, T);
  const native = createNativeEngine(cfg, params)!;
  const ref = new ReferenceEngine(cfg, Float64Array.from(params));
  const rng = new SeededRandom(seed + 200);
  const opts: StepOptions = {
    mode, dropout, seed: 0x9e3779b9 + seed, alphaC: 0.7, reinforceWeight: 0.3, entropyWeight: 0.05, baseline: -40, computeGrad: true,
    locations: mode === "hard-sample" ? new Int32Array(B * T).map(() => rng.int(cfg.numLocations)) : undefined,
  };
  const rn = native.forwardBackward(batch, opts);
  const rr = ref.forwardBackward(batch, opts);
  closeScalar("loss", rn.loss, rr.loss);
  closeScalar("nll", rn.nll, rr.nll);
  closeScalar("penalty", rn.penalty, rr.penalty);
  closeScalar("attentionEntropy", rn.attentionEntropy, rr.attentionEntropy);
  assert.equal(rn.tokens, rr.tokens);
  closeTensor("logProb", rn.logProb, rr.logProb, 1e-5);
  if (mode === "hard-sample") assert.deepEqual(Array.from(rn.locations!), Array.from(opts.locations!));
  else assert.equal(rn.locations, undefined);
  const layout = paramLayout(cfg);
  const maxAbs = (a: ArrayLike<number>): number => {
    let mx = 0;
    for (let i = 0; i < a.length; i++) mx = Math.max(mx, Math.abs(a[i]));
    return mx;
  };
  const watt = layout.slots.w_att;
  for (const slot of layout.order) {
    // db_att = Σ de is identically 0 (softmax is shift invariant); what float32 leaves of it is
    // cancellation noise of the de terms, whose scale dw_att = Σ de S shows.
    const minScale = slot.name === "b_att" ? maxAbs(ref.grads.subarray(watt.offset, watt.offset + watt.size)) : 0;
    closeTensor(`${mode} p=${dropout} d${slot.name}`, native.grads.subarray(slot.offset, slot.offset + slot.size),
      ref.grads.subarray(slot.offset, slot.offset + slot.size), RTOL, minScale);
  }
  native.dispose();
}

for (const mode of ["soft", "hard-sample", "hard-expect"] as const) {
  for (const dropout of [0, 0.5]) {
    test(`native = reference: ${mode}, dropout ${dropout}, partial mask`, { skip }, () => compareStep(mode, dropout, 11));
  }
}

// Sizes that are not multiples of anything: A = 24 (one 16-wide pass + an 8-element scalar tail),
// L = 9 (two 4-location blocks + 1), odd B and T; every stride of the b*T + t layout differs.
const medium: ModelConfig = resolveModelConfig({
  vocabSize: 41, embedDim: 16, hiddenDim: 20, attnDim: 24, featureDim: 13, numLocations: 9,
});
for (const mode of ["soft", "hard-sample"] as const) {
  test(`native = reference on a medium config: ${mode}, dropout 0.3`, { skip }, () => compareStep(mode, 0.3, 17, medium, 5, 7));
}

test("hard-sample draws the same locations as the reference from the shared stream", { skip }, () => {
  const params = makeParams(5);
  const batch = makeBatch(6);
  const native = createNativeEngine(config, params)!;
  const ref = new ReferenceEngine(config, Float64Array.from(params));
  const opts: StepOptions = {
    mode: "hard-sample", dropout: 0.5, seed: 1234, alphaC: 1, reinforceWeight: 0.1, entropyWeight: 0.002, baseline: -30, computeGrad: false,
  };
  const rn = native.forwardBackward(batch, opts);
  const rr = ref.forwardBackward(batch, opts);
  // A draw can differ only if v falls within float32 rounding of a cumulative-α boundary.
  let same = 0;
  for (let i = 0; i < B * T; i++) if (rn.locations![i] === rr.locations![i]) same++;
  assert.ok(same === B * T, `${same}/${B * T} locations agree`);
  closeScalar("loss", rn.loss, rr.loss);
  native.dispose();
});

test("forward only leaves the gradients untouched and a larger batch reuses the engine", { skip }, () => {
  const params = makeParams(3);
  const native = createNativeEngine(config, params)!;
  native.grads.fill(7);
  const opts: StepOptions = { mode: "soft", dropout: 0, seed: 1, alphaC: 1, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: false };
  const batch = makeBatch(4);
  const r1 = native.forwardBackward(batch, opts);
  assert.ok(native.grads.every((g) => g === 7));
  const r2 = native.forwardBackward(batch, opts);
  assert.equal(r1.loss, r2.loss, "deterministic");
  native.dispose();
  assert.throws(() => native.forwardBackward(batch, opts), /dispose/);
});

test("errors name the bad argument", { skip }, () => {
  const native = createNativeEngine(config, makeParams(1))!;
  const batch = makeBatch(2);
  const opts: StepOptions = { mode: "soft", dropout: 0, seed: 1, alphaC: 1, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: true };
  assert.throws(() => native.forwardBackward({ ...batch, features: new Float32Array(5) }, opts), /features has 5 floats, expected B\*L\*D = 189/);
  const bad = Int32Array.from(batch.inputs);
  bad[2] = 99;
  assert.throws(() => native.forwardBackward({ ...batch, inputs: bad }, opts), /inputs\[2\] = 99/);
  assert.throws(() => native.forwardBackward({ ...batch, mask: new Float32Array(3) }, opts), /mask has 3 floats/);
  assert.throws(() => native.forwardBackward(batch, { ...opts, mode: "hard-sample", locations: new Int32Array(B * T).fill(7) }), /locations\[0\] = 7/);
  native.dispose();
});

function optimizerCase(settings: OptimizerSettings): void {
  const params = makeParams(21);
  const native = createNativeEngine(config, params)!;
  const refParams = Float64Array.from(params);
  const refState = settings.kind === "adam" ? [new Float64Array(params.length), new Float64Array(params.length)] : [new Float64Array(params.length)];
  const rng = new SeededRandom(22);
  for (let step = 1; step <= 3; step++) {
    for (let i = 0; i < params.length; i++) native.grads[i] = rng.normal() * 0.1;
    const refGrads = Float64Array.from(native.grads);
    const nn = native.optimizerStep(settings, step);
    const nr = referenceOptimizerStep(refParams, refGrads, refState, settings, step);
    closeScalar("grad norm", nn, nr, 1e-6);
    // Float32 parameters round to 6e-8 relative; updates are lr-sized and computed to ~1e-6.
    closeTensor(`${settings.kind} params after step ${step}`, native.params, refParams, 1e-6);
    const st = native.optimizerState(settings.kind);
    st.forEach((s, k) => closeTensor(`${settings.kind} state ${k}`, s, refState[k], 1e-5));
  }
  native.dispose();
}

const baseOpt: OptimizerSettings = { kind: "adam", lr: 1e-3, beta1: 0.9, beta2: 0.999, rho: 0.9, eps: 1e-8, weightDecay: 0, clipNorm: 0 };
test("Adam step = TS transcription", { skip }, () => optimizerCase(baseOpt));
test("Adam with clipping and weight decay = TS transcription", { skip }, () => optimizerCase({ ...baseOpt, clipNorm: 1, weightDecay: 0.01 }));
test("RMSProp with clipping and weight decay = TS transcription", { skip }, () =>
  optimizerCase({ ...baseOpt, kind: "rmsprop", lr: 1e-3, clipNorm: 0.5, weightDecay: 1e-3 }));
test("RMSProp without clipping = TS transcription", { skip }, () => optimizerCase({ ...baseOpt, kind: "rmsprop", lr: 2e-4, rho: 0.95 }));

test("decodeStep native = reference (soft and sampled)", { skip }, () => {
  const params = makeParams(31);
  const native = createNativeEngine(config, params)!;
  const ref = new ReferenceEngine(config, Float64Array.from(params));
  const rng = new SeededRandom(32);
  const { numLocations: L, featureDim: D, vocabSize: K } = config;
  const features = new Float32Array(2 * L * D).map(() => rng.normal());
  const rowImage = Int32Array.from([0, 1, 1, 0]);
  const cn = native.prepareDecode(features, 2);
  const cr = ref.prepareDecode(features, 2);
  const sn = native.initialState(cn, rowImage);
  const sr = ref.initialState(cr, rowImage);
  closeTensor("h0", sn.h, sr.h);
  closeTensor("c0", sn.c, sr.c);
  for (let step = 0; step < 3; step++) {
    const tokens = new Int32Array(rowImage.length).map(() => rng.int(K));
    const seed = step === 2 ? 99 : undefined;
    const on = native.decodeStep(cn, rowImage, tokens, sn, seed);
    const or = ref.decodeStep(cr, rowImage, tokens, sr, seed);
    closeTensor(`step ${step} logProbs`, on.logProbs, or.logProbs, 1e-5);
    closeTensor(`step ${step} alpha`, on.alpha, or.alpha);
    closeTensor(`step ${step} beta`, on.beta, or.beta);
    closeTensor(`step ${step} h`, sn.h, sr.h);
    closeTensor(`step ${step} c`, sn.c, sr.c);
  }
  native.dispose();
});

// Decoding keeps features that are all float16 values (those of a feature store) as float16,
// half the bytes each step's attention streams, whether they arrive as float32 copies or as
// the store's float16 bits; the result must not change by a bit. D = 27 runs the 16-wide
// (AVX-512), 8-wide and scalar parts of the half kernel, L = 7 its blocks of four locations
// and the single-location tail, 11 images the chunks in which float16 input is widened for P.
test("decoding float16 features gives the same bits through the float16 and float32 paths, from either input", { skip }, () => {
  const cfg = resolveModelConfig({ vocabSize: 23, embedDim: 8, hiddenDim: 12, attnDim: 20, featureDim: 27, numLocations: 7 });
  const params = makeParams(41, cfg);
  const rng = new SeededRandom(42);
  const { numLocations: L, featureDim: D, vocabSize: K } = cfg;
  const images = 11;
  const bits = new Uint16Array(images * L * D);
  encodeHalf(Array.from({ length: bits.length }, () => rng.normal() * 2), bits);
  const features = decodeHalf(bits, new Float32Array(bits.length));
  const rowImage = Int32Array.from([2, 0, 10, 1, 1, 9, 0]);
  const steps = Array.from({ length: 4 }, () => new Int32Array(rowImage.length).map(() => rng.int(K)));
  const dims = { K, m: cfg.embedDim, n: cfg.hiddenDim, A: cfg.attnDim, D, L };

  const run = (input: Float32Array | Uint16Array, noHalf: boolean) => {
    if (noHalf) process.env.SAT_NO_HALF_FEATURES = "1";
    else delete process.env.SAT_NO_HALF_FEATURES;
    try {
      const raw = new addon!.Engine(dims);
      const featureBits = raw.prepareDecode(input instanceof Uint16Array ? { params, featuresHalf: input, numImages: images } : { params, features: input, numImages: images }).featureBits;
      raw.dispose();
      const engine = createNativeEngine(cfg, params)!;
      const ctx = engine.prepareDecode(input, images);
      const state = engine.initialState(ctx, rowImage);
      const out = [{ h: state.h.slice(), c: state.c.slice() } as Record<string, Float32Array>];
      // Step 2 samples a location (hard attention), the others take the soft context.
      steps.forEach((tokens, step) => {
        const r = engine.decodeStep(ctx, rowImage, tokens, state, step === 2 ? 7 : undefined);
        out.push({ logProbs: r.logProbs, alpha: r.alpha, beta: r.beta, h: state.h.slice(), c: state.c.slice() });
      });
      engine.dispose();
      return { featureBits, out };
    } finally {
      delete process.env.SAT_NO_HALF_FEATURES;
    }
  };
  assert.ok(addon!.halfFeatures, "an AVX2 build (F16C) takes float16 features");
  const expected = run(features, true);
  assert.equal(expected.featureBits, 32, "SAT_NO_HALF_FEATURES=1 keeps float32");
  const asBits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (const [what, input, noHalf, featureBits] of [
    ["float32 input kept as float16", features, false, 16],
    ["float16 input kept as float16", bits, false, 16],
    ["float16 input widened (SAT_NO_HALF_FEATURES=1)", bits, true, 32],
  ] as const) {
    const got = run(input, noHalf);
    assert.equal(got.featureBits, featureBits, what);
    got.out.forEach((o, step) => {
      for (const k of Object.keys(expected.out[step])) assert.deepEqual(asBits(o[k]), asBits(expected.out[step][k]), `${what}: step ${step} ${k}`);
    });
  }
  // One value that float16 cannot hold sends the whole context down the float32 path.
  const inexact = features.slice();
  inexact[5 * D + 3] = 1 + 2 ** -20;
  const raw = new addon!.Engine(dims);
  assert.equal(raw.prepareDecode({ params, features: inexact, numImages: images }).featureBits, 32);
  raw.dispose();
});
