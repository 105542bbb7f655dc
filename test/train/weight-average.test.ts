// The moving average of the weights (sat train --ema): its zero-debiased weights, the value it
// holds against a float64 recomputation, and the live weights coming back after validation (the
// checkpoint round trip is in checkpoint.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { WeightAverage } from "../../src/train/weight-average.js";
import { SeededRandom } from "../../src/util/rng.js";

test("the first update's weights are the average; later ones get weight (1 - d) / (1 - d^k)", () => {
  const w = new WeightAverage(0.9, Float32Array.from([5, 5]));
  assert.equal(w.nextWeight, 1);
  w.update(Float32Array.from([1, -1]));
  assert.deepEqual(Array.from(w.values), [1, -1], "not anchored to the starting weights");
  assert.ok(Math.abs(w.nextWeight - 1 / 1.9) < 1e-15);
  for (let k = 0; k < 500; k++) w.update(Float32Array.from([1, -1]));
  assert.ok(Math.abs(w.nextWeight - 0.1) < 1e-15, "tends to 1 - d");
  assert.throws(() => new WeightAverage(1, new Float32Array(1)), /decay must be in \(0, 1\)/);
  assert.throws(() => new WeightAverage(0, new Float32Array(1)), /decay must be in \(0, 1\)/);
});

test("the average equals the closed form sum_j (1 - d) d^(k-j) p_j / (1 - d^k) in float64", () => {
  const rng = new SeededRandom(5);
  const n = 257;
  const d = 0.95;
  const start = Float32Array.from({ length: n }, () => rng.normal());
  const w = new WeightAverage(d, start);
  const history: Float32Array[] = [];
  for (let k = 0; k < 200; k++) {
    const p = Float32Array.from(start, (s) => s + 0.01 * k + rng.normal());
    history.push(p);
    w.update(p);
  }
  const K = history.length;
  let maxErr = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    history.forEach((p, j) => (sum += (1 - d) * Math.pow(d, K - 1 - j) * p[i]));
    maxErr = Math.max(maxErr, Math.abs(w.values[i] - sum / (1 - Math.pow(d, K))));
  }
  // 200 float32 updates of values of order 1-3: rounding error stays below 1e-5.
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  // ...and it is an average, not the last weights: noise of sd 1 is damped to ~ sqrt((1-d)/(1+d)).
  const last = history[K - 1];
  let lastDiff = 0;
  for (let i = 0; i < n; i++) lastDiff += (w.values[i] - last[i]) ** 2;
  assert.ok(Math.sqrt(lastDiff / n) > 0.5);
});

test("withAveraged swaps the averaged weights in and always puts the live ones back", () => {
  const live = Float32Array.from([1, 2, 3]);
  const w = new WeightAverage(0.5, new Float32Array(3));
  w.update(Float32Array.from([10, 10, 10]));
  const seen = w.withAveraged(live, () => Array.from(live));
  assert.deepEqual(seen, Array.from(w.values));
  assert.notDeepEqual(seen, [1, 2, 3]);
  assert.deepEqual(Array.from(live), [1, 2, 3]);
  assert.throws(() => w.withAveraged(live, () => {
    throw new Error("decode failed");
  }), /decode failed/);
  assert.deepEqual(Array.from(live), [1, 2, 3]);
  assert.throws(() => w.update(new Float32Array(4)), /holds 3 values, params have 4/);
});
