// --hold-gate: for the first n steps the gate β's parameters (w_beta, b_beta) keep their starting
// values exactly while every other parameter trains; from step n + 1 they train too. Checked
// with both optimisers (zero gradients must mean a zero update in each).
import { test } from "node:test";
import assert from "node:assert/strict";
import { START, END } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { DEFAULT_OPTIMIZER, type OptimizerKind } from "../../src/model/engine.js";
import { createEngine } from "../../src/engine/select.js";
import { initParams } from "../../src/model/init.js";
import { paramLayout, view, type ParamName } from "../../src/model/layout.js";
import { Trainer } from "../../src/train/trainer.js";
import { shapesCorpus } from "./shapes-corpus.js";

const { sf, vocab, corpus } = shapesCorpus({ images: 120, seed: 5, dim: 32 });
const config = resolveModelConfig({
  vocabSize: vocab.size, embedDim: 8, hiddenDim: 12, attnDim: 8, featureDim: sf.dim, numLocations: sf.numLocations, attention: "hard",
});
const layout = paramLayout(config);
const copyOf = (engine: { params: Float32Array | Float64Array }, name: ParamName) => view(engine.params, layout, name).slice();

for (const kind of ["adam", "rmsprop"] as OptimizerKind[]) {
  test(`${kind}: the gate's parameters stay put for --hold-gate steps, then train`, () => {
    const engine = createEngine(config, initParams(config, 3));
    const trainer = new Trainer(engine, corpus, {
      batchSize: 8, seed: 2, optimizer: { ...DEFAULT_OPTIMIZER, kind, lr: 1e-2, clipNorm: 5 }, startId: START, endId: END, holdGateSteps: 3,
    });
    const start = { w: copyOf(engine, "w_beta"), b: copyOf(engine, "b_beta"), att: copyOf(engine, "w_att") };
    for (let s = 0; s < 3; s++) trainer.trainStep();
    assert.deepEqual(copyOf(engine, "w_beta"), start.w);
    assert.deepEqual(copyOf(engine, "b_beta"), start.b);
    assert.notDeepEqual(copyOf(engine, "w_att"), start.att, "the rest of the model trains meanwhile");
    trainer.trainStep();
    assert.notDeepEqual(copyOf(engine, "w_beta"), start.w, "step 4 updates the gate");
    assert.notDeepEqual(copyOf(engine, "b_beta"), start.b);
  });
}
