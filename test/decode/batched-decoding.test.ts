// Decoding images together (all their beams in one engine step) gives exactly the captions,
// scores and attention of decoding each image alone: on shapes-task models trained briefly
// (soft and hard attention), decoded by the reference engine, at beam 1, 3 and 5, with images
// whose captions end at different lengths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine } from "../../src/engine/select.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { beamSearch, type BeamCaption } from "../../src/decode/beam.js";
import { DEFAULT_SYNTHETIC_TASK, runSyntheticTask } from "../../src/train/synthetic-task.js";
import { END, START } from "../../src/data/vocab.js";

const IMAGES = 12;

function trainedTask(attention: "soft" | "hard") {
  // Small and brief: enough for captions of several lengths, not for good ones.
  const res = runSyntheticTask({
    ...DEFAULT_SYNTHETIC_TASK,
    attention,
    seed: 3,
    trainScenes: 300,
    testScenes: IMAGES,
    steps: 1000,
    featureDim: 32,
    embedDim: 16,
    hiddenDim: 24,
    attnDim: 12,
    createEngine: (config, params) => createEngine(config, params, "auto"),
  });
  const reference = new ReferenceEngine(res.config, Float32Array.from(res.engine.params));
  res.engine.dispose();
  return { reference, features: res.testFeatures, LD: res.config.numLocations * res.config.featureDim };
}

function assertSameCaptions(together: BeamCaption[], alone: BeamCaption[], what: string): void {
  assert.equal(together.length, alone.length, what);
  together.forEach((c, k) => {
    const a = alone[k];
    assert.deepEqual(c.tokens, a.tokens, `${what} candidate ${k}`);
    // Exact: every row is computed alone by the reference engine, whatever the batch.
    assert.equal(c.logProb, a.logProb, `${what} candidate ${k} log p`);
    assert.equal(c.score, a.score, `${what} candidate ${k} score`);
    assert.equal(c.finished, a.finished);
    assert.deepEqual(c.alphas, a.alphas, `${what} candidate ${k} α`);
    assert.deepEqual(c.betas, a.betas, `${what} candidate ${k} β`);
  });
}

for (const attention of ["soft", "hard"] as const) {
  test(`${attention} attention: images decoded together = each decoded alone (beam 1, 3, 5)`, () => {
    const { reference, features, LD } = trainedTask(attention);
    for (const beamWidth of [1, 3, 5]) {
      for (const lengthPenalty of [0, 0.7]) {
        const opts = { startId: START, endId: END, beamWidth, topN: beamWidth, maxLength: 12, lengthPenalty };
        const together = beamSearch(reference, features, IMAGES, opts);
        const lengths = new Set<number>();
        for (let i = 0; i < IMAGES; i++) {
          const alone = beamSearch(reference, features.subarray(i * LD, (i + 1) * LD), 1, opts)[0];
          assertSameCaptions(together[i], alone, `${attention} beam ${beamWidth} a=${lengthPenalty} image ${i}`);
          lengths.add(alone[0].tokens.length);
        }
        // The images must stop at different steps, or the batch never shrinks mid-search.
        assert.ok(lengths.size >= 2, `${attention} beam ${beamWidth}: all best captions have ${[...lengths]} words`);
      }
    }
  });
}
