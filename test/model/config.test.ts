// Bad configuration gives one line naming the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveModelConfig, ConfigError } from "../../src/model/config.js";
import { ReferenceEngine, checkBatch } from "../../src/model/reference.js";
import { initParams } from "../../src/model/init.js";

const ok = { vocabSize: 20, embedDim: 4, hiddenDim: 4, attnDim: 4, featureDim: 3, numLocations: 4 };

test("defaults follow model.md", () => {
  const c = resolveModelConfig({ vocabSize: 10000 });
  assert.deepEqual(
    [c.embedDim, c.hiddenDim, c.attnDim, c.featureDim, c.numLocations, c.dropout, c.alphaC, c.reinforceWeight, c.entropyWeight, c.baselinePerLength],
    [512, 1024, 512, 1024, 196, 0.5, 1.0, 0.1, 0.002, false],
  );
});

for (const [field, value, pattern] of [
  ["hiddenDim", -3, /hiddenDim must be a positive integer/],
  ["embedDim", 2.5, /embedDim must be a positive integer/],
  ["attention", "fuzzy", /attention must be "soft" or "hard"/],
  ["dropout", 1, /dropout must be a number in \[0, 1\)/],
  ["alphaC", -1, /alphaC must be a finite number >= 0/],
  ["featureDim", 0, /featureDim must be a positive integer/],
  ["baselinePerLength", "yes", /baselinePerLength must be true or false/],
  ["baselineWarmStart", 1, /baselineWarmStart must be true or false/],
  ["colour", 1, /colour is not a model config field/],
] as const) {
  test(`${field} = ${JSON.stringify(value)} is refused with a message naming it`, () => {
    assert.throws(
      () => resolveModelConfig({ ...ok, [field]: value } as never),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n"),
    );
  });
}

test("features of the wrong size are refused naming the field", () => {
  const c = resolveModelConfig(ok);
  const engine = new ReferenceEngine(c, initParams(c, 1));
  const batch = { B: 2, T: 1, features: new Float32Array(2 * 4 * 5), inputs: new Int32Array(2), targets: new Int32Array(2), mask: new Float32Array(2) };
  assert.throws(() => checkBatch(batch, c.numLocations, c.featureDim, c.vocabSize), /batch\.features has 40 floats, expected B\*L\*D = 2\*4\*3 = 24/);
  assert.throws(
    () => engine.forwardBackward(batch, { mode: "soft", dropout: 0, seed: 1, alphaC: 1, reinforceWeight: 0, entropyWeight: 0, baseline: 0, computeGrad: false }),
    /mismatched feature size/,
  );
});
