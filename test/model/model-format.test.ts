// The browser-safe model file code (model-format.ts): its own CRC-32 is zlib's, and it reads
// what model-dir.ts writes to disk, refusing damage with the same messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 as zlibCrc32 } from "node:zlib";
import { resolveModelConfig } from "../../src/model/config.js";
import { paramLayout } from "../../src/model/layout.js";
import { initParams } from "../../src/model/init.js";
import { saveModel } from "../../src/model/model-dir.js";
import { crc32, decodeFloatFile, decodeModelWeights, encodeFloatFile, parseModelFile, ModelFileError } from "../../src/model/model-format.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { SeededRandom } from "../../src/util/rng.js";

test("crc32 matches zlib's on the empty input, a known vector and random buffers", () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  // The standard check value of CRC-32/ISO-HDLC.
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  const rng = new SeededRandom(7);
  for (const n of [1, 3, 255, 4096, 100_003]) {
    const b = Uint8Array.from({ length: n }, () => Math.floor(rng.next() * 256));
    assert.equal(crc32(b), zlibCrc32(b), `length ${n}`);
  }
});

test("a model saved by model-dir parses and decodes to the same parameters", () => {
  const vocab = Vocabulary.build(["a red circle", "a blue square"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 4, hiddenDim: 3, attnDim: 2, featureDim: 5, numLocations: 4 });
  const dir = mkdtempSync(join(tmpdir(), "sat-format-"));
  const params = initParams(config, 3);
  saveModel(dir, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: "t", grid: [2, 2], L: 4, D: 5 }, params });
  const { meta, words } = parseModelFile(JSON.parse(readFileSync(join(dir, "model.json"), "utf8")), "model.json");
  assert.deepEqual(meta.config, config);
  assert.deepEqual(words, vocab.words);
  const bytes = readFileSync(join(dir, "weights.bin"));
  assert.deepEqual(decodeModelWeights(meta, bytes, "weights.bin"), params);
  // Encoding is the exact inverse, header included.
  assert.deepEqual(encodeFloatFile(params).bytes, new Uint8Array(bytes));

  const other = decodeFloatFile(encodeFloatFile(Float32Array.from(params, (v) => v + 1)).bytes, params.length, "other.bin");
  assert.throws(() => decodeModelWeights(meta, encodeFloatFile(other.values).bytes, "other.bin"), /other\.bin: CRC-32 mismatch \(file corrupted or not the weights/);
  const flipped = new Uint8Array(bytes);
  flipped[40] ^= 1;
  assert.throws(() => decodeModelWeights(meta, flipped, "w"), (e: Error) => e instanceof ModelFileError && /w: CRC-32 mismatch \(file corrupted\)/.test(e.message));
  assert.throws(() => decodeModelWeights(meta, bytes.subarray(0, bytes.length - 4), "w"), /w: truncated or padded/);
  const badMagic = new Uint8Array(bytes);
  badMagic[0] = 0;
  assert.throws(() => decodeModelWeights(meta, badMagic, "w"), /bad magic/);
});

test("model.json checks name the file and the field", () => {
  const count = paramLayout(resolveModelConfig({ vocabSize: 5 })).total;
  const weights = { file: "weights.bin", dtype: "float32", count, crc32: 0 };
  const good = { format: "show-attend-tell/model", version: 1, config: { vocabSize: 5 }, vocab: { words: ["<pad>", "<start>", "<end>", "<unk>", "a"] }, encoder: { grid: [14, 14], L: 196, D: 1024 }, weights };
  assert.equal(parseModelFile(good, "m.json").meta.config.hiddenDim, 1024);
  assert.throws(() => parseModelFile({ ...good, format: "x" }, "m.json"), /m\.json: format is "x"/);
  assert.throws(() => parseModelFile({ ...good, version: 2 }, "m.json"), /version 2 is not supported/);
  assert.throws(() => parseModelFile({ ...good, config: { vocabSize: 5, attention: "fuzzy" } }, "m.json"), /m\.json: config: invalid model config: attention/);
  assert.throws(() => parseModelFile({ ...good, vocab: { words: ["a"] } }, "m.json"), /vocab has 1 words but config.vocabSize is 5/);
  assert.throws(() => parseModelFile({ ...good, vocab: { words: 3 } }, "m.json"), /m\.json: vocab: field 'words' must be an array of strings/);
  assert.throws(() => parseModelFile({ ...good, encoder: { grid: [7, 7], L: 49, D: 1024 } }, "m.json"), /encoder L\/D \(49\/1024\) do not match/);
  assert.throws(() => parseModelFile(null, "m.json"), /not a JSON object/);
  // Every field's type, named, rather than a TypeError from deep inside.
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ config: null }, /field 'config' must be an object/],
    [{ config: [5] }, /field 'config' must be an object/],
    [{ encoder: null }, /field 'encoder' must be an object/],
    [{ encoder: { grid: "14x14", L: 196, D: 1024 } }, /field 'encoder\.grid' must be two positive integers/],
    [{ encoder: { grid: [14, 14], L: "196", D: 1024 } }, /field 'encoder\.L' must be a positive integer/],
    [{ encoder: { grid: [14, 14], L: 196, D: -1 } }, /field 'encoder\.D' must be a positive integer/],
    [{ training: [] }, /field 'training' must be an object/],
    [{ weights: undefined }, /field 'weights' must be an object/],
    [{ weights: { ...weights, dtype: "float16" } }, /field 'weights\.dtype' must be "float32"/],
    [{ weights: { ...weights, count: count + 1 } }, /field 'weights\.count' is \d+, the config needs \d+/],
    [{ weights: { ...weights, crc32: -1 } }, /field 'weights\.crc32' must be an unsigned 32-bit integer/],
    [{ weights: { ...weights, crc32: 2 ** 32 } }, /field 'weights\.crc32'/],
  ];
  for (const [patch, pattern] of bad) {
    assert.throws(() => parseModelFile({ ...good, ...patch }, "m.json"), (e: Error) => e instanceof ModelFileError && /^m\.json: /.test(e.message) && pattern.test(e.message), JSON.stringify(patch));
  }
});

test("weights.file must be a plain file name in the model folder", () => {
  const count = paramLayout(resolveModelConfig({ vocabSize: 5 })).total;
  const good = { format: "show-attend-tell/model", version: 1, config: { vocabSize: 5 }, vocab: { words: ["<pad>", "<start>", "<end>", "<unk>", "a"] }, encoder: { grid: [14, 14], L: 196, D: 1024 } };
  for (const file of ["../../etc/passwd", "/etc/passwd", "sub/weights.bin", "..\\weights.bin", "..", ".", "", "model.json", "w\u0000.bin", 42, null, ["weights.bin"]]) {
    assert.throws(
      () => parseModelFile({ ...good, weights: { file, dtype: "float32", count, crc32: 0 } }, "m.json"),
      (e: Error) => e instanceof ModelFileError && /m\.json: field 'weights\.file' must be a plain file name in the model folder/.test(e.message),
      JSON.stringify(file),
    );
  }
  assert.equal(parseModelFile({ ...good, weights: { file: "weights-v2.bin", dtype: "float32", count, crc32: 0 } }, "m.json").meta.weights.file, "weights-v2.bin");
});
