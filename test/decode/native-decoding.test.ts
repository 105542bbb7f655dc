// Native and reference decoding give the same captions, log-probabilities and attention.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { SeededRandom } from "../../src/util/rng.js";
import { createNativeEngine } from "../../src/native/engine.js";
import { beamSearch } from "../../src/decode/beam.js";

const config = resolveModelConfig({ vocabSize: 40, embedDim: 16, hiddenDim: 24, attnDim: 12, featureDim: 10, numLocations: 49 });
const native0 = createNativeEngine(config);
const skip = !native0 && process.env.SAT_REQUIRE_NATIVE !== "1" ? "native engine not built" : false;
native0?.dispose();

test("beam search: native and reference agree on captions, scores and α", { skip }, () => {
  const rng = new SeededRandom(11);
  // Weights well above the init scale so the distributions are peaked and attention is not uniform.
  const params = new Float32Array(paramLayout(config).total).map(() => 0.6 * rng.normal());
  const N = 4;
  const features = new Float32Array(N * config.numLocations * config.featureDim).map(() => Math.abs(rng.normal()));
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
