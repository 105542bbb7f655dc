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

// Beam search's rows that continue one hypothesis share the image and h_{t-1}; the native step
// computes their attention and recurrent GEMM once. Each row must still come out exactly as
// when decoded alone: the rows below repeat h (with different words and cell states), repeat
// it for another image, and come back to an image after another one's rows.
test("decodeStep: rows sharing image and h give each row the bits it gets decoded alone", { skip }, () => {
  const {
    params,
    features: [features],
  } = peakedModel(14, 2);
  const engine = createNativeEngine(config, params)!;
  const { hiddenDim: n, numLocations: L, vocabSize: K } = config;
  const ctx = engine.prepareDecode(features, 2);
  // Three distinct hidden states from a first step: hA, hB of image 0, hC of image 1.
  const first = engine.initialState(ctx, Int32Array.from([0, 0, 1]));
  engine.decodeStep(ctx, Int32Array.from([0, 0, 1]), Int32Array.from([1, 5, 1]), first);
  const rng = new SeededRandom(15);
  //            image, state, word
  const rows = [[0, 0, 7], [0, 0, 9], [0, 1, 7], [1, 0, 7], [1, 2, 3], [1, 2, 11], [0, 0, 4]] as const;
  const rowImage = Int32Array.from(rows.map((r) => r[0]));
  const tokens = Int32Array.from(rows.map((r) => r[2]));
  const h = new Float32Array(rows.length * n);
  const c = new Float32Array(rows.length * n);
  rows.forEach(([, s], r) => {
    h.set(first.h.subarray(s * n, (s + 1) * n), r * n);
    c.set(first.c.subarray(s * n, (s + 1) * n).map((v) => v + 0.1 * rng.normal()), r * n);
  });
  const together = { h: h.slice(), c: c.slice() };
  const all = engine.decodeStep(ctx, rowImage, tokens, together);
  const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
  rows.forEach((_, r) => {
    const alone = { h: h.slice(r * n, (r + 1) * n), c: c.slice(r * n, (r + 1) * n) };
    const one = engine.decodeStep(ctx, rowImage.subarray(r, r + 1), tokens.subarray(r, r + 1), alone);
    assert.deepEqual(bits(all.logProbs.subarray(r * K, (r + 1) * K)), bits(one.logProbs), `row ${r} log p`);
    assert.deepEqual(bits(all.alpha.subarray(r * L, (r + 1) * L)), bits(one.alpha), `row ${r} α`);
    assert.deepEqual(bits(all.beta.subarray(r, r + 1)), bits(one.beta), `row ${r} β`);
    assert.deepEqual(bits(together.h.subarray(r * n, (r + 1) * n)), bits(alone.h), `row ${r} h`);
    assert.deepEqual(bits(together.c.subarray(r * n, (r + 1) * n)), bits(alone.c), `row ${r} c`);
  });
  engine.releaseDecode(ctx);
  engine.dispose();
});
