import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeHalf, encodeHalf, HALF_MAX, HALF_TO_FLOAT, toHalf } from "../../src/data/float16.js";
import { SeededRandom } from "../../src/util/rng.js";

test("float16: exact values, rounding to nearest even, subnormals, saturation", () => {
  assert.equal(toHalf(0), 0);
  assert.equal(toHalf(-0), 0x8000);
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1e6), 0x7bff, "saturates instead of infinity");
  assert.equal(toHalf(2 ** -24), 0x0001, "smallest subnormal");
  assert.equal(toHalf(2 ** -26), 0, "below half of it: zero");
  // 1 + 2^-11 is exactly between 1 and 1 + 2^-10: ties go to the even mantissa (1).
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00);
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.ok(Number.isNaN(HALF_TO_FLOAT[toHalf(NaN)]));
  // Every finite half survives the round trip exactly.
  for (let h = 0; h < 0x7c00; h++) {
    assert.equal(toHalf(HALF_TO_FLOAT[h]), h);
    assert.equal(toHalf(HALF_TO_FLOAT[h | 0x8000]), h | 0x8000);
  }
});

test("float16: error bound on feature-like values (the figure the docs quote)", () => {
  const rng = new SeededRandom(5);
  const n = 200_000;
  const x = new Float32Array(n);
  // ReLU-like: half zeros, the rest spread over 1e-6 .. 100 log-uniformly.
  for (let i = 0; i < n; i++) x[i] = rng.next() < 0.5 ? 0 : 10 ** (-6 + 8 * rng.next());
  const h = new Uint16Array(n);
  assert.equal(encodeHalf(x, h), 0);
  const y = decodeHalf(h, new Float32Array(n));
  let maxRel = 0;
  let maxAbsSmall = 0;
  for (let i = 0; i < n; i++) {
    if (x[i] >= 2 ** -14) maxRel = Math.max(maxRel, Math.abs(y[i] - x[i]) / x[i]);
    else maxAbsSmall = Math.max(maxAbsSmall, Math.abs(y[i] - x[i]));
  }
  // Round-to-nearest: half an ulp, 2^-11 relative for normals, 2^-25 absolute for subnormals.
  assert.ok(maxRel <= 2 ** -11, `max relative error ${maxRel}`);
  assert.ok(maxAbsSmall <= 2 ** -25, `max absolute error ${maxAbsSmall}`);
  assert.ok(maxRel > 2 ** -12, "the bound is tight, so the check would see a truncating conversion");
  assert.equal(encodeHalf([HALF_MAX * 2, -HALF_MAX * 2, 1], new Uint16Array(3)), 2);
});
