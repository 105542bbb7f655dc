// Finite-difference check of the reference decoder in float64: every entry of every parameter
// tensor, soft and hard attention, dropout on, with a padded (mask = 0) position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig, type ModelConfig } from "../../src/model/config.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { paramLayout } from "../../src/model/layout.js";
import type { StepMode, StepOptions, TrainBatch } from "../../src/model/engine.js";
import { SeededRandom } from "../../src/util/rng.js";

const config: ModelConfig = resolveModelConfig({
  vocabSize: 11, embedDim: 5, hiddenDim: 6, attnDim: 4, featureDim: 3, numLocations: 5,
});

function makeBatch(rng: SeededRandom, B: number, T: number): TrainBatch {
  const { numLocations: L, featureDim: D, vocabSize: K } = config;
  const features = new Float32Array(B * L * D).map(() => rng.normal());
  const inputs = new Int32Array(B * T).map(() => rng.int(K));
  const targets = new Int32Array(B * T).map(() => rng.int(K));
  const mask = new Float32Array(B * T).fill(1);
  mask[B * T - 1] = 0; // a padded position: must contribute nothing
  return { B, T, features, inputs, targets, mask };
}

function check(mode: StepMode, dropout: number): void {
  const rng = new SeededRandom(42);
  const layout = paramLayout(config);
  // Larger-than-default weights so every nonlinearity is exercised away from its linear regime.
  const params = new Float64Array(layout.total).map(() => 0.4 * rng.normal());
  const engine = new ReferenceEngine(config, params);
  const B = 2;
  const T = 3;
  const batch = makeBatch(rng, B, T);
  const opts: StepOptions = {
    mode, dropout, seed: 7, alphaC: 0.7, reinforceWeight: 0.3, entropyWeight: 0.05, baseline: -4,
    computeGrad: true,
    locations: mode === "hard-sample" ? new Int32Array(B * T).map(() => rng.int(config.numLocations)) : undefined,
    rewards: mode === "hard-sample" ? Float64Array.from([1.3, -0.8]) : undefined,
  };
  engine.forwardBackward(batch, opts);
  const analytic = Float64Array.from(engine.grads);
  const lossAt = (): number => engine.forwardBackward(batch, { ...opts, computeGrad: false }).loss;
  // Fourth-order central differences, h = 1e-4: truncation O(h⁴·f⁽⁵⁾) ~ 1e-16 and rounding
  // ~ 1e-16·|J|/h ~ 1e-11 absolute, so the 1e-6 floor below keeps relative noise under 1e-5.
  const h = 1e-4;
  for (const slot of layout.order) {
    let worst = 0;
    for (let i = slot.offset; i < slot.offset + slot.size; i++) {
      const orig = params[i];
      const at = (delta: number): number => {
        params[i] = orig + delta;
        return lossAt();
      };
      const fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
      params[i] = orig;
      // Relative error with a floor of 1e-6 on the scale: below it both are rounding noise.
      const rel = Math.abs(fd - analytic[i]) / Math.max(Math.abs(fd), Math.abs(analytic[i]), 1e-6);
      worst = Math.max(worst, rel);
    }
    assert.ok(worst < 1e-5, `${mode} dropout=${dropout}: ${slot.name} max relative error ${worst.toExponential(2)}`);
  }
  // The gradient must not be trivially zero (a test that cannot fail would pass then).
  assert.ok(analytic.some((g) => Math.abs(g) > 1e-3), "gradients are all ~0");
}

test("reference gradients match finite differences: soft attention, dropout off", () => check("soft", 0));
test("reference gradients match finite differences: soft attention, dropout 0.5", () => check("soft", 0.5));
test("reference gradients match finite differences: hard attention (fixed locations), dropout 0.5", () => check("hard-sample", 0.5));
test("reference gradients match finite differences: hard attention trained on the expectation", () => check("hard-expect", 0));

test("padded positions contribute nothing to loss or gradients", () => {
  const rng = new SeededRandom(3);
  const layout = paramLayout(config);
  const params = new Float64Array(layout.total).map(() => 0.4 * rng.normal());
  const engine = new ReferenceEngine(config, params);
  const batch = makeBatch(rng, 2, 3);
  const opts: StepOptions = { mode: "soft", dropout: 0, seed: 1, alphaC: 0.5, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: true };
  const r1 = engine.forwardBackward(batch, opts);
  const g1 = Float64Array.from(engine.grads);
  // Change the padded target: nothing may move.
  batch.targets[batch.B * batch.T - 1] = (batch.targets[batch.B * batch.T - 1] + 1) % config.vocabSize;
  const r2 = engine.forwardBackward(batch, opts);
  assert.equal(r2.loss, r1.loss);
  assert.deepEqual(Float64Array.from(engine.grads), g1);
  assert.equal(r1.tokens, 5);
});
