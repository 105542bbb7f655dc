// Native and reference decoding give the same captions, log-probabilities and attention.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { SeededRandom } from "../../src/util/rng.js";
import { createNativeEngine } from "../../src/native/engine.js";
import { beamSearch } from "../../src/decode/beam.js";
import { topWordsOfRow } from "../../src/decode/top-words.js";
import type { DecodeTopResult } from "../../src/model/engine.js";
import { decodeHalf, encodeHalf } from "../../src/data/float16.js";

const config = resolveModelConfig({ vocabSize: 40, embedDim: 16, hiddenDim: 24, attnDim: 12, featureDim: 10, numLocations: 49 });
const native0 = createNativeEngine(config);
const skip = !native0 && process.env.SAT_REQUIRE_NATIVE !== "1" ? "native engine not built" : false;
native0?.dispose();

/**
 * Weights well above the init scale (peaked distributions, attention far from uniform) and
 * `images` images of |N(0,1)| features, from one seeded stream.
 */
function peakedModel(seed: number, ...images: number[]): { params: Float32Array; features: Float32Array[] } {
  const rng = new SeededRandom(seed);
  const params = new Float32Array(paramLayout(config).total).map(() => 0.6 * rng.normal());
  const features = images.map((n) => new Float32Array(n * config.numLocations * config.featureDim).map(() => Math.abs(rng.normal())));
  return { params, features };
}

test("beam search: native and reference agree on captions, scores and α", { skip }, () => {
  const N = 4;
  const {
    params,
    features: [features],
  } = peakedModel(11, N);
  const native = createNativeEngine(config, params);
  assert.ok(native);
  const ref = new ReferenceEngine(config, Float32Array.from(params));
  for (const beamWidth of [1, 3]) {
    const opts = { startId: 1, endId: 2, beamWidth, maxLength: 8, topN: beamWidth };
    const a = beamSearch(native, features, N, opts);
    const b = beamSearch(ref, features, N, opts);
    for (let i = 0; i < N; i++) {
      assert.equal(a[i].length, b[i].length);
      for (let k = 0; k < a[i].length; k++) {
        assert.deepEqual(a[i][k].tokens, b[i][k].tokens, `image ${i} candidate ${k}`);
        // float32 arithmetic in both, different summation orders: agreement to ~1e-5 relative.
        assert.ok(Math.abs(a[i][k].logProb - b[i][k].logProb) < 1e-4 * Math.max(1, Math.abs(b[i][k].logProb)));
        a[i][k].alphas.forEach((al, t) => al.forEach((v, l) => assert.ok(Math.abs(v - b[i][k].alphas[t][l]) < 1e-5, `α[${t}][${l}]`)));
      }
    }
  }
  // Hard attention decoding with sampled locations: the same locations from the shared stream.
  const opts = { startId: 1, endId: 2, beamWidth: 2, maxLength: 6, sampleLocationsSeed: 77 };
  const a = beamSearch(native, features, N, opts);
  const b = beamSearch(ref, features, N, opts);
  for (let i = 0; i < N; i++) {
    assert.deepEqual(a[i][0].tokens, b[i][0].tokens);
    assert.equal(a[i][0].locations?.length, a[i][0].alphas.length);
    assert.deepEqual(a[i][0].locations, b[i][0].locations);
    for (const l of a[i][0].locations!) assert.ok(l >= 0 && l < config.numLocations);
  }
  native.dispose();
});

test("beam search on a feature store's float16 bits = on their float32 values, in both engines", { skip }, () => {
  const N = 3;
  const { params, features: [raw] } = peakedModel(12, N);
  const bits = new Uint16Array(raw.length);
  encodeHalf(raw, bits);
  const widened = decodeHalf(bits, new Float32Array(bits.length));
  const opts = { startId: 1, endId: 2, beamWidth: 3, maxLength: 8, topN: 3 };
  for (const engine of [createNativeEngine(config, params)!, new ReferenceEngine(config, Float32Array.from(params))]) {
    const fromBits = beamSearch(engine, bits, N, opts);
    const fromFloats = beamSearch(engine, widened, N, opts);
    // The same engine on the same values: identical, not merely close.
    assert.deepEqual(fromBits, fromFloats, engine.kind);
    if (engine.kind === "native") engine.dispose();
  }
});

test("decodeStepTop: the native selection equals the same selection over decodeStep's log p, bit for bit", { skip }, () => {
  const N = 3;
  const {
    params,
    features: [features],
  } = peakedModel(12, N);
  const native = createNativeEngine(config, params);
  assert.ok(native?.decodeStepTop);
  const K = config.vocabSize;
  // Rows on images 0, 2, 2, 1 with repeated tokens: the E W_x cache sees a token twice in one step.
  const rowImage = Int32Array.from([0, 2, 2, 1]);
  const blocked = new Uint8Array(K);
  for (let i = 0; i < K; i += 3) blocked[i] = 1;
  // k = 20 of the 26 allowed words; k = 30 runs past them (ids -1, log p -Infinity).
  for (const [k, seed] of [[3, undefined], [20, 5], [30, undefined]] as const) {
    const ctxA = native.prepareDecode(features, N);
    const ctxB = native.prepareDecode(features, N);
    const sA = native.initialState(ctxA, rowImage);
    const sB = native.initialState(ctxB, rowImage);
    let tokens = Int32Array.from([1, 4, 4, 7]);
    for (let step = 0; step < 4; step++) {
      const full = native.decodeStep(ctxA, rowImage, tokens, sA, seed);
      const top: DecodeTopResult = native.decodeStepTop(ctxB, rowImage, tokens, sB, k, blocked, seed);
      const ids = new Int32Array(rowImage.length * k);
      const vals = new Float32Array(rowImage.length * k);
      for (let r = 0; r < rowImage.length; r++) topWordsOfRow(full.logProbs, r * K, K, k, blocked, ids, vals, r * k);
      assert.deepEqual(top.topIds, ids, `k ${k} step ${step}: ids`);
      assert.deepEqual(top.topLogProbs, vals, `k ${k} step ${step}: log p`);
      assert.deepEqual([top.alpha, top.beta, top.locations], [full.alpha, full.beta, full.locations]);
      assert.deepEqual([sB.h, sB.c], [sA.h, sA.c]);
      for (let r = 0; r < rowImage.length; r++) {
        const row: number[] = [...top.topIds.subarray(r * k, (r + 1) * k)];
        const allowed: number[] = row.filter((i) => i >= 0);
        assert.equal(allowed.length, Math.min(k, K - Math.ceil(K / 3)));
        assert.ok(allowed.every((i) => !blocked[i]));
        const lp = top.topLogProbs.subarray(r * k, r * k + allowed.length);
        for (let j = 1; j < lp.length; j++) assert.ok(lp[j - 1] >= lp[j], "best first");
      }
      tokens = Int32Array.from({ length: rowImage.length }, (_, r) => top.topIds[r * k]);
    }
  }
  native.dispose();
});

test("releaseDecode: a context's recycled buffers decode the next images exactly as fresh ones; a released context refuses to decode", { skip }, () => {
  const {
    params,
    features: [big, small],
  } = peakedModel(13, 5, 2);
  const opts = { startId: 1, endId: 2, beamWidth: 3, maxLength: 8, topN: 3 };
  const fresh = createNativeEngine(config, params)!;
  const expected = beamSearch(fresh, small, 2, opts);
  fresh.dispose();
  const reused = createNativeEngine(config, params)!;
  // beamSearch releases its context: the second call runs on the first call's buffers (larger,
  // and holding another image set's features, projections and E W_x rows).
  beamSearch(reused, big, 5, opts);
  assert.deepEqual(beamSearch(reused, small, 2, opts), expected);
  const ctx = reused.prepareDecode(small, 2);
  const state = reused.initialState(ctx, Int32Array.from([0, 1]));
  reused.releaseDecode(ctx);
  assert.throws(() => reused.decodeStep(ctx, Int32Array.from([0, 1]), Int32Array.from([1, 1]), state), /ctx was released \(releaseDecode\)/);
  assert.throws(() => reused.releaseDecode(ctx), /ctx was released/);
  reused.dispose();
});
