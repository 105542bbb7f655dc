// Killing training and resuming from a checkpoint continues exactly where it stopped: the same
// losses, bit for bit, over the next 100 steps (hard attention, so the REINFORCE baseline(s), the
// expectation/sample coin and dropout all have to be restored too). Also: what the per-length
// baselines are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { START, END } from "../../src/data/vocab.js";
import { resolveModelConfig, type ModelConfig } from "../../src/model/config.js";
import { DEFAULT_OPTIMIZER, type DecoderEngine } from "../../src/model/engine.js";
import { createEngine } from "../../src/engine/select.js";
import { initParams } from "../../src/model/init.js";
import { Trainer } from "../../src/train/trainer.js";
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { WeightAverage } from "../../src/train/weight-average.js";
import { shapesCorpus } from "./shapes-corpus.js";
import { assertResumesExactly } from "./resume-check.js";

const { sf, vocab, corpus } = shapesCorpus({ images: 300, seed: 4, dim: 32 });
const config: ModelConfig = resolveModelConfig({
  vocabSize: vocab.size, embedDim: 16, hiddenDim: 24, attnDim: 16, featureDim: sf.dim, numLocations: sf.numLocations, attention: "hard",
});
const settings = { batchSize: 16, seed: 9, optimizer: { ...DEFAULT_OPTIMIZER, lr: 3e-3, clipNorm: 5 }, startId: START, endId: END };
const encoder = { spec: null, name: "synthetic", grid: [sf.grid, sf.grid] as [number, number], L: sf.numLocations, D: sf.dim };

const perLength: ModelConfig = { ...config, baselinePerLength: true };
const warmPerLength: ModelConfig = { ...perLength, baselineWarmStart: true };

function fresh(c: ModelConfig): Trainer {
  return new Trainer(createEngine(c, initParams(c, 2)), corpus, settings);
}

/** Wraps engine.forwardBackward to record each call's options and its minibatch's mean log p. */
function recordForwardBackward(engine: DecoderEngine): { T: number; computeGrad: boolean; mode: string; baseline: number; mean: number }[] {
  const calls: { T: number; computeGrad: boolean; mode: string; baseline: number; mean: number }[] = [];
  const forwardBackward = engine.forwardBackward.bind(engine);
  engine.forwardBackward = (batch, opts) => {
    const r = forwardBackward(batch, opts);
    let mean = 0;
    for (const lp of r.logProb) mean += lp / r.logProb.length;
    calls.push({ T: batch.T, computeGrad: opts.computeGrad, mode: opts.mode, baseline: opts.baseline!, mean });
    return r;
  };
  return calls;
}

for (const [name, cfg] of [["one baseline", config], ["per-length baselines", perLength], ["warm-started per-length baselines", warmPerLength]] as const) test(`resume from a checkpoint reproduces the uninterrupted loss curve exactly (${name})`, () => {
  assertResumesExactly({
    fresh: () => fresh(cfg),
    fromCheckpoint: (c, params) => new Trainer(createEngine(c, params), corpus, settings),
    stopAt: 50,
    total: 150,
    vocab,
    encoder,
  });
});

test("a checkpoint carries the moving average of the weights: resumed, it ends where the uninterrupted one does", () => {
  const run = (t: Trainer, w: WeightAverage, steps: number) => {
    for (let i = 0; i < steps; i++) {
      t.trainStep();
      w.update(t.engine.params);
    }
  };
  const straight = fresh(config);
  const straightAvg = new WeightAverage(0.99, straight.engine.params);
  run(straight, straightAvg, 60);
  straight.engine.dispose();

  const first = fresh(config);
  const firstAvg = new WeightAverage(0.99, first.engine.params);
  run(first, firstAvg, 20);
  const dir = join(mkdtempSync(join(tmpdir(), "sat-ckpt-")), "checkpoint");
  saveCheckpoint(dir, { engine: first.engine, trainer: first, vocab, encoder, average: firstAvg });
  first.engine.dispose();
  const ckpt = loadCheckpoint(dir);
  assert.deepEqual(ckpt.average!.getState(), { decay: 0.99, updates: 20 });
  const resumed = new Trainer(createEngine(ckpt.model.meta.config, ckpt.model.params), corpus, settings);
  restoreCheckpoint(ckpt, resumed.engine, resumed);
  run(resumed, ckpt.average!, 40);
  assert.deepEqual(ckpt.average!.values, straightAvg.values);
  // The average differs from the live weights it was built from (else the check says nothing).
  assert.notDeepEqual(ckpt.average!.values, Float32Array.from(resumed.engine.params));
  resumed.engine.dispose();

  // A checkpoint written without one loads without one.
  const plain = fresh(config);
  saveCheckpoint(dir, { engine: plain.engine, trainer: plain, vocab, encoder });
  plain.engine.dispose();
  assert.equal(loadCheckpoint(dir).average, null);
});

test("per-length baselines: each minibatch's is the moving average of log p over earlier minibatches of its length", () => {
  const engine = createEngine(perLength, initParams(perLength, 2));
  const seen = recordForwardBackward(engine);
  const trainer = new Trainer(engine, corpus, settings);
  for (let i = 0; i < 60; i++) trainer.trainStep();
  const byLength = new Map<number, number>();
  let perWord = 0;
  for (const [i, s] of seen.entries()) {
    // A length seen for the first time starts from the per-word average times its length.
    const expected = byLength.get(s.T) ?? perWord * s.T;
    assert.equal(s.baseline, expected, `baseline of step ${i + 1} (length ${s.T})`);
    byLength.set(s.T, 0.9 * expected + (1 - 0.9) * s.mean); // the trainer's arithmetic, so equality is exact
    perWord = 0.9 * perWord + (1 - 0.9) * (s.mean / s.T);
  }
  assert.ok(byLength.size >= 3, "several caption lengths (the test would be vacuous otherwise)");
  assert.deepEqual(trainer.getState().baselineByLength, Object.fromEntries([...byLength].map(([T, b]) => [String(T), b])));
  engine.dispose();
});

test("baselineWarmStart: the first minibatch's baseline is its own mean log p on the expectation, measured before its update", () => {
  for (const warm of [false, true]) {
    const cfg: ModelConfig = { ...config, baselineWarmStart: warm };
    const engine = createEngine(cfg, initParams(cfg, 2));
    const calls = recordForwardBackward(engine);
    const trainer = new Trainer(engine, corpus, settings);
    for (let i = 0; i < 3; i++) trainer.trainStep();
    if (!warm) {
      // docs/model.md §Baseline: the baseline starts at 0; one forward/backward per step.
      assert.deepEqual(calls.map((c) => [c.computeGrad, c.baseline]), [[true, 0], [true, calls[1].baseline], [true, calls[2].baseline]]);
      assert.equal(calls[1].baseline, 0.9 * 0 + (1 - 0.9) * calls[0].mean); // the trainer's arithmetic
    } else {
      assert.equal(calls.length, 4, "one extra forward pass, at the first step only");
      assert.deepEqual([calls[0].computeGrad, calls[0].mode], [false, "hard-expect"]);
      assert.ok(calls[0].mean < -1, `a fresh model's log p is far below 0 (got ${calls[0].mean})`);
      assert.equal(calls[1].baseline, calls[0].mean);
      assert.ok(calls[1].computeGrad);
      // Then the moving average as usual, from the measured start.
      assert.equal(calls[2].baseline, 0.9 * calls[0].mean + (1 - 0.9) * calls[1].mean);
    }
    engine.dispose();
  }
});

test("a missing checkpoint is reported with its path", () => {
  assert.throws(() => loadCheckpoint("/nonexistent/ckpt"), /\/nonexistent\/ckpt: no checkpoint here/);
});

test("a checkpoint killed between the two renames of its swap loads from its previous copy, and the next save completes the swap", () => {
  const trainer = fresh(config);
  for (let i = 0; i < 3; i++) trainer.trainStep();
  const dir = join(mkdtempSync(join(tmpdir(), "sat-ckpt-")), "checkpoint");
  saveCheckpoint(dir, { engine: trainer.engine, trainer, vocab, encoder });
  renameSync(dir, `${dir}.old`); // the state after `<dir>` -> `<dir>.old`, before `<dir>.tmp` -> `<dir>`
  mkdirSync(`${dir}.tmp`); // and a half-written new copy
  const ckpt = loadCheckpoint(dir);
  assert.equal(ckpt.dir, `${dir}.old`);
  assert.equal(ckpt.trainer.step, 3);
  trainer.trainStep();
  saveCheckpoint(dir, { engine: trainer.engine, trainer, vocab, encoder });
  assert.equal(loadCheckpoint(dir).trainer.step, 4);
  assert.deepEqual(readdirSync(dirname(dir)), ["checkpoint"]);
  trainer.engine.dispose();
});

test("a version-1 checkpoint is migrated on load: its run record rebuilt from what it kept", () => {
  const trainer = fresh(config);
  trainer.trainStep();
  const dir = join(mkdtempSync(join(tmpdir(), "sat-ckpt-")), "checkpoint");
  saveCheckpoint(dir, { engine: trainer.engine, trainer, vocab, encoder });
  trainer.engine.dispose();
  const path = join(dir, "checkpoint.json");
  const v2 = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  // What version 1 wrote: the run's state in `extra`, BLEU-4 as bestBleu4 before --val-metric.
  writeFileSync(path, JSON.stringify({ ...v2, version: 1, extra: { bestBleu4: 0.25, sinceBest: 2, baseLr: 0.004, objective: "xent" } }));
  const run = loadCheckpoint(dir).run!;
  assert.deepEqual(
    { ...run, identity: { ...run.identity, vocabulary: undefined } },
    { bestScore: 0.25, sinceBest: 2, baseLr: 0.004, identity: { objective: "xent", valMetric: "bleu4", ema: 0, features: { L: config.numLocations, D: config.featureDim }, vocabulary: undefined } },
  );
  assert.equal(run.identity.vocabulary.size, vocab.size);
  assert.equal(run.identity.dataset, undefined, "version 1 never recorded its dataset");
  writeFileSync(path, JSON.stringify({ ...v2, version: 3 }));
  assert.throws(() => loadCheckpoint(dir), /checkpoint\.json: not a show-attend-tell checkpoint of version 1 or 2/);
});
