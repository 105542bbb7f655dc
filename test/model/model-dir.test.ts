// Model directories: a round trip keeps every bit, and damaged or mismatched files are refused
// with a message naming the file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { UserError } from "../../src/errors.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { loadModel, saveModel, ModelFileError } from "../../src/model/model-dir.js";
import { Vocabulary } from "../../src/data/vocab.js";

const ROOT = resolve(import.meta.dirname, "../..");
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
  assert.throws(() => loadModel(dir), (e: Error) => e instanceof ModelFileError && /weights\.bin: weights file is 100 bytes, expected \d+ \(truncated\)/.test(e.message));
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
  assert.throws(() => loadModel(dir), /model\.json: field 'weights\.count' is \d+, the config needs \d+/);
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

/** model.json as parsed JSON, edited freely by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type MetaDoc = any;

/** Rewrites one field of a saved model's model.json. */
function patchMeta(dir: string, patch: (meta: MetaDoc) => void): void {
  const p = join(dir, "model.json");
  const meta = JSON.parse(readFileSync(p, "utf8"));
  patch(meta);
  writeFileSync(p, JSON.stringify(meta));
}

function refused(dir: string, pattern: RegExp): void {
  assert.throws(
    () => loadModel(dir),
    (e: Error) => e instanceof ModelFileError && e instanceof UserError && pattern.test(e.message) && !e.message.includes("\n"),
  );
}

test("weights.file outside the model folder is refused before anything is opened", () => {
  const dir = saved();
  // A real file two levels up: before the check, loadModel opened it.
  writeFileSync(join(dir, "..", "passwd-stand-in"), "root:x:0:0\n");
  for (const file of ["../passwd-stand-in", "/etc/passwd", "", 7]) {
    patchMeta(dir, (m) => (m.weights.file = file));
    refused(dir, /model\.json: field 'weights\.file' must be a plain file name in the model folder/);
  }
});

test("weights that are a folder, a FIFO or the wrong size are refused by type and size, without hanging", () => {
  const dir = saved();
  mkdirSync(join(dir, "as-folder"));
  patchMeta(dir, (m) => (m.weights.file = "as-folder"));
  refused(dir, /as-folder: weights file is a folder, not a regular file/);
  // Opening a FIFO for reading blocks until a writer appears: the read must not get that far.
  execFileSync("mkfifo", [join(dir, "as-fifo")]);
  patchMeta(dir, (m) => (m.weights.file = "as-fifo"));
  refused(dir, /as-fifo: weights file is a FIFO, not a regular file/);
  patchMeta(dir, (m) => (m.weights.file = "weights.bin"));
  const w = join(dir, "weights.bin");
  writeFileSync(w, Buffer.concat([readFileSync(w), Buffer.alloc(4)]));
  refused(dir, /weights\.bin: weights file is \d+ bytes, expected \d+ \(padded or not this file\)/);
});

test("model.json itself: a folder, a FIFO, a byte-order mark", () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-model-"));
  mkdirSync(join(dir, "model.json"));
  refused(dir, /model\.json: is a folder, not a regular file/);
  const fifo = mkdtempSync(join(tmpdir(), "sat-model-"));
  execFileSync("mkfifo", [join(fifo, "model.json")]);
  refused(fifo, /model\.json: is a FIFO, not a regular file/);
  // A BOM (Windows editors add one) is not a reason to refuse the file.
  const bom = saved();
  const p = join(bom, "model.json");
  writeFileSync(p, "\uFEFF" + readFileSync(p, "utf8"));
  assert.deepEqual(loadModel(bom).params, initParams(config, 5));
});

test("sat caption with a malformed model: one line, exit 2", () => {
  const dir = saved();
  patchMeta(dir, (m) => (m.weights.file = "../../etc/passwd"));
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/index.ts"), "caption", dir, join(ROOT, "test/fixtures/data/flickr8k")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^sat: .*model\.json: field 'weights\.file' must be a plain file name/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});
