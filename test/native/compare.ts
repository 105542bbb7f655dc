// Comparing native results with the TypeScript reference, shared by the whole-step and the
// per-layer tests.
//
// Tolerance: the reference runs in float64, the addon in float32 with its own exp/tanh
// (~3e-7 relative) and a different summation order (BLAS blocking, per-thread partial sums).
// Each result is a short chain of sums of at most a few hundred float32 products, so its
// error is a small multiple of float32 epsilon (6e-8) times the size of the terms summed.
// We therefore compare every tensor against its own scale: |native − ref| <= 2e-4 · max|ref|
// (plus 1e-7 for tensors that are ~0), which leaves ~100x margin over the errors observed
// (printed with SAT_TEST_VERBOSE=1) and still catches any wrong term in the backward pass
// (a missing or mis-scaled term changes a tensor by O(1) of its scale).
import assert from "node:assert/strict";
import type { ModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { paramLayout } from "../../src/model/layout.js";
import { SeededRandom } from "../../src/util/rng.js";

export const RTOL = 2e-4;
const ATOL = 1e-7;
const verbose = process.env.SAT_TEST_VERBOSE === "1";

/** Weights larger than the init's 0.01 so that attention, gates and tanh all leave their linear regime. */
export function makeParams(seed: number, cfg: ModelConfig): Float32Array {
  const p = initParams(cfg, seed);
  const rng = new SeededRandom(seed + 1);
  const U = paramLayout(cfg).slots.U;
  for (let i = 0; i < p.length; i++) if (i < U.offset || i >= U.offset + U.size) p[i] = 0.3 * rng.normal();
  return p;
}

export function closeTensor(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = RTOL, minScale = 0): void {
  assert.equal(got.length, want.length, `${name}: length`);
  let scale = minScale;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (verbose) console.log(`  ${name}: max|diff| ${worst.toExponential(2)} scale ${scale.toExponential(2)} rel ${(worst / (scale || 1)).toExponential(2)}`);
  assert.ok(worst <= rtol * scale + ATOL, `${name}: max |native − ref| = ${worst.toExponential(3)} at ${at} (native ${got[at]}, ref ${want[at]}), scale ${scale.toExponential(3)}`);
}

export function closeScalar(name: string, got: number, want: number, rtol = 1e-5): void {
  assert.ok(Math.abs(got - want) <= rtol * Math.max(1, Math.abs(want)), `${name}: native ${got}, ref ${want}`);
}
