// Model directories: a round trip keeps every bit, and damaged or mismatched files are refused
// with a message naming the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { loadModel, saveModel, ModelFileError } from "../../src/model/model-dir.js";
import { Vocabulary } from "../../src/data/vocab.js";

const vocab = Vocabulary.build(["a red circle", "a blue square to the left of a red circle"]);
const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 6, hiddenDim: 5, attnDim: 4, featureDim: 3, numLocations: 4 });
const encoder = { spec: null, name: "test", grid: [2, 2] as [number, number], L: 4, D: 3 };

function saved(): string {
  const dir = mkdtempSync(join(tmpdir(), "sat-model-"));
  saveModel(dir, { config, vocab: vocab.toJSON(), encoder, training: { steps: 3 }, params: initParams(config, 5) });
  return dir;
}

test("save then load returns the same config, vocabulary and parameters", () => {
  const dir = saved();
  const m = loadModel(dir);
  assert.deepEqual(m.meta.config, config);
  assert.deepEqual(m.vocab.words, vocab.words);
  assert.deepEqual(m.params, initParams(config, 5));
  assert.deepEqual(m.meta.training, { steps: 3 });
});

test("a truncated weights file is refused", () => {
  const dir = saved();
  truncateSync(join(dir, "weights.bin"), 100);
  assert.throws(() => loadModel(dir), (e: Error) => e instanceof ModelFileError && /weights\.bin: truncated/.test(e.message));
});

test("a flipped weight byte fails the CRC check", () => {
  const dir = saved();
  const p = join(dir, "weights.bin");
  const b = readFileSync(p);
  b[200] ^= 0x40;
  writeFileSync(p, b);
  assert.throws(() => loadModel(dir), /CRC-32 mismatch/);
});

test("a config that does not fit the weights is refused", () => {
  const dir = saved();
  const p = join(dir, "model.json");
  const meta = JSON.parse(readFileSync(p, "utf8"));
  meta.config.hiddenDim = 7;
  writeFileSync(p, JSON.stringify(meta));
  assert.throws(() => loadModel(dir), /holds \d+ parameters, the config needs \d+/);
});

test("a bad field in model.json is named", () => {
  const dir = saved();
  const p = join(dir, "model.json");
  const meta = JSON.parse(readFileSync(p, "utf8"));
  meta.config.attention = "fuzzy";
  writeFileSync(p, JSON.stringify(meta));
  assert.throws(() => loadModel(dir), /config: invalid model config: attention must be "soft" or "hard"/);
});

test("a missing directory says what it expected", () => {
  assert.throws(() => loadModel("/nonexistent/model"), /model\.json: not found/);
});
