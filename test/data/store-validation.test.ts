// A feature store is checked whole when it is opened: every manifest field, the shard names,
// images listed twice, and each shard file's size, so a damaged store fails at once with a
// FeatureStoreError naming the file and the field, not with a RangeError or a read error
// halfway through training.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { FeatureStoreError } from "../../src/errors.js";
import { FeatureStore } from "../../src/data/feature-store.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { saveModel } from "../../src/model/model-dir.js";
import { D, handMadeStore, L } from "./store-fixtures.js";

/** A manifest as parsed JSON, edited freely by the tests (any field may be made any type). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ManifestDoc = any;

const ROOT = resolve(import.meta.dirname, "../..");
function withManifest(patch: (m: ManifestDoc) => void): string {
  const { dir, manifest } = handMadeStore();
  const m = structuredClone(manifest) as ManifestDoc;
  patch(m);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
  return dir;
}

function refusedAtOpen(dir: string, pattern: RegExp): void {
  assert.throws(
    () => FeatureStore.open(dir),
    (e: unknown) => e instanceof FeatureStoreError && pattern.test(e.message) && !e.message.includes("\n"),
    String(pattern),
  );
}

test("a hand-made store opens and reads back its rows", () => {
  const { dir } = handMadeStore();
  const s = FeatureStore.open(dir);
  assert.deepEqual(s.ids, ["a.jpg", "b.jpg", "c.jpg"]);
  // Values k/4 up to 5 are exact in float16 (11-bit significand).
  assert.deepEqual([...s.read("b.jpg")], Array.from({ length: L * D }, (_, j) => 1 + 0.25 * j));
  assert.deepEqual([...s.read("c.jpg")], Array.from({ length: L * D }, (_, j) => 2 + 0.25 * j));
  s.close();
});

test("bad L, D and shards fields are named, not a RangeError or a TypeError", () => {
  const cases: [(m: ManifestDoc) => void, RegExp][] = [
    [(m) => (m.L = -1), /field 'L' must be a positive integer \(got -1\)/],
    [(m) => (m.L = 1.5), /field 'L' must be a positive integer/],
    [(m) => (m.D = "3"), /field 'D' must be a positive integer \(got "3"\)/],
    [(m) => (m.D = 1e12), /make a row over/],
    [(m) => (m.shardSize = 0), /field 'shardSize' must be a positive integer/],
    [(m) => (m.shards = {}), /field 'shards' must be an array/],
    [(m) => (m.shards = "shard-00000.f16"), /field 'shards' must be an array/],
    [(m) => (m.shards[1] = null), /field 'shards\[1\]' must be an object/],
    [(m) => (m.shards[0].ids = "a.jpg"), /field 'shards\[0\]\.ids' must be an array/],
    [(m) => (m.shards[0].ids[1] = 5), /field 'shards\[0\]\.ids\[1\]' must be a non-empty string/],
    [(m) => (m.failed = null), /field 'failed' must be an array/],
    [(m) => (m.failed[0] = { id: "d.jpg" }), /field 'failed\[0\]' must be \{id, reason\}/],
    [(m) => (m.encoded = 5), /field 'encoded' is 5 but the shards list 3/],
    [(m) => (m.images = 3), /field 'images' is 3/],
    [(m) => (m.encoder = "resnet"), /field 'encoder' must be an object/],
    [(m) => (m.format = "other"), /not a sat feature store/],
    [(m) => (m.dtype = "float32"), /not a sat feature store/],
  ];
  for (const [patch, pattern] of cases) refusedAtOpen(withManifest(patch), new RegExp(`manifest\\.json: .*${pattern.source}`));
});

test("an image listed in two shards, or as both encoded and failed, is refused", () => {
  refusedAtOpen(withManifest((m) => m.shards[1].ids.push("a.jpg")), /manifest\.json: image 'a\.jpg' is listed twice \(shards\[0\]\.ids and shards\[1\]\.ids\)/);
  refusedAtOpen(withManifest((m) => (m.failed[0].id = "c.jpg")), /image 'c\.jpg' is listed twice \(shards\[1\]\.ids and failed\)/);
  refusedAtOpen(withManifest((m) => (m.shards[1].file = "shard-00000.f16")), /field 'shards\[1\]\.file': shard file 'shard-00000\.f16' is listed twice/);
});

test("shard names must be plain file names in the store folder", () => {
  for (const file of ["../shard-00000.f16", "/etc/passwd", "", "sub/x.f16", "..", 3, null, "manifest.json"]) {
    refusedAtOpen(withManifest((m) => (m.shards[0].file = file)), /field 'shards\[0\]\.file' must be a plain file name in the store folder/);
  }
});

test("a shard one row short (or long) is found when the store is opened, by size", () => {
  const { dir } = handMadeStore();
  truncateSync(join(dir, "shard-00000.f16"), L * D * 2);
  refusedAtOpen(dir, /shard-00000\.f16: shard file \(.*shards\[0\], 2 rows of 4x3\) is 24 bytes, expected 48 \(truncated\)/);
  const long = handMadeStore().dir;
  writeFileSync(join(long, "shard-00001.f16"), Buffer.concat([readFileSync(join(long, "shard-00001.f16")), Buffer.alloc(2)]));
  refusedAtOpen(long, /shard-00001\.f16: .* is 26 bytes, expected 24 \(padded/);
});

test("missing, folder and FIFO shards and manifests are refused without hanging", () => {
  const { dir } = handMadeStore();
  execFileSync("rm", [join(dir, "shard-00001.f16")]);
  refusedAtOpen(dir, /shard-00001\.f16: shard file .* not found/);
  const folder = handMadeStore().dir;
  execFileSync("rm", [join(folder, "shard-00001.f16")]);
  mkdirSync(join(folder, "shard-00001.f16"));
  refusedAtOpen(folder, /shard-00001\.f16: shard file .* is a folder, not a regular file/);
  const fifo = handMadeStore().dir;
  execFileSync("rm", [join(fifo, "shard-00001.f16")]);
  execFileSync("mkfifo", [join(fifo, "shard-00001.f16")]);
  refusedAtOpen(fifo, /is a FIFO, not a regular file/);
  const fifoManifest = handMadeStore().dir;
  execFileSync("rm", [join(fifoManifest, "manifest.json")]);
  execFileSync("mkfifo", [join(fifoManifest, "manifest.json")]);
  refusedAtOpen(fifoManifest, /manifest\.json: is a FIFO, not a regular file/);
  const notJson = handMadeStore().dir;
  writeFileSync(join(notJson, "manifest.json"), "{\"format\": ");
  refusedAtOpen(notJson, /manifest\.json: not valid JSON/);
  const file = join(handMadeStore().dir, "manifest.json");
  refusedAtOpen(file, /not a folder/);
  refusedAtOpen(join(tmpdir(), "no-such-store-here"), /no such folder/);
});

test("sat eval --features with a damaged store: one line, exit 2", () => {
  const dir = withManifest((m) => (m.shards = 7));
  const vocab = Vocabulary.build(["a dog runs"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 4, hiddenDim: 3, attnDim: 2, featureDim: D, numLocations: L });
  const model = mkdtempSync(join(tmpdir(), "sat-store-model-"));
  saveModel(model, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: "hand-made", grid: [2, 2], L, D }, params: initParams(config, 1) });
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "src/cli/index.ts"), "eval", "--model", model, "--features", dir, "--data", join(ROOT, "test/fixtures/data/flickr8k"), "--split", "test", "--no-meteor"],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^sat: .*manifest\.json: field 'shards' must be an array of \{file, ids\}\n$/);
});
