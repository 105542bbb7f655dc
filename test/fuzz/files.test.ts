// Seeded-random fuzzing of every file format the project reads (mutate.ts describes the
// oracle): model.json, weights, feature-store manifests and shards, caption files in each
// dataset format, and eval inputs. Each pass has a few seconds; a failure names its iteration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatasetError, FeatureStoreError, ModelFileError, UserError } from "../../src/errors.js";
import { loadDataset } from "../../src/data/datasets.js";
import { FeatureStore } from "../../src/data/feature-store.js";
import { tokenize } from "../../src/data/tokenize.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { paramLayout } from "../../src/model/layout.js";
import { loadModel, saveModel } from "../../src/model/model-dir.js";
import { readHypotheses, readReferences } from "../../src/cli/commands/eval.js";
import { handMadeStore } from "../data/store-fixtures.js";
import { cleanOutcome, fuzzLoop, mutateBytes, mutateJson, mutateText, type SeededRandom } from "./mutate.js";

const FIX = resolve(import.meta.dirname, "../fixtures/data");
/** Per pass: enough for hundreds of inputs here; a slower machine runs a prefix of the same sequence. */
const BUDGET_MS = 3000;

/** A model.json's text after one mutation: of its JSON values (mostly) or of its bytes. */
function mutatedJsonText(rng: SeededRandom, text: string): string | Uint8Array {
  if (rng.next() < 0.7) return JSON.stringify(mutateJson(rng, JSON.parse(text)));
  return rng.next() < 0.5 ? mutateText(rng, text) : mutateBytes(rng, Buffer.from(text));
}

test("fuzz: model.json", async () => {
  const vocab = Vocabulary.build(["a red circle", "a blue square"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 4, hiddenDim: 3, attnDim: 2, featureDim: 3, numLocations: 4 });
  const dir = mkdtempSync(join(tmpdir(), "sat-fuzz-model-"));
  const params = initParams(config, 2);
  saveModel(dir, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: "t", grid: [2, 2], L: 4, D: 3 }, training: { steps: 1 }, params });
  const original = readFileSync(join(dir, "model.json"), "utf8");
  let accepted = 0;
  const n = await fuzzLoop(101, 3000, BUDGET_MS, (rng, i) => {
    writeFileSync(join(dir, "model.json"), mutatedJsonText(rng, original));
    const ok = cleanOutcome(`model.json #${i}`, () => {
      const m = loadModel(dir);
      // Accepted: the model is whole and consistent with itself.
      assert.equal(m.params.length, paramLayout(m.meta.config).total);
      assert.equal(m.vocab.size, m.meta.config.vocabSize);
      assert.deepEqual(m.params, params, "the weights it names are the weights it loaded");
    }, ModelFileError, dir);
    if (ok) accepted++;
  });
  assert.ok(n >= 100, `only ${n} inputs in the budget`);
  assert.ok(accepted < n, "some mutations must be refused");
});

test("fuzz: weights file", async () => {
  const vocab = Vocabulary.build(["a red circle"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 3, hiddenDim: 3, attnDim: 2, featureDim: 2, numLocations: 4 });
  const dir = mkdtempSync(join(tmpdir(), "sat-fuzz-weights-"));
  const params = initParams(config, 3);
  saveModel(dir, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: "t", grid: [2, 2], L: 4, D: 2 }, params });
  const original = readFileSync(join(dir, "weights.bin"));
  const n = await fuzzLoop(202, 3000, BUDGET_MS, (rng, i) => {
    const bytes = mutateBytes(rng, original);
    writeFileSync(join(dir, "weights.bin"), bytes);
    // The CRC-32 catches every change here, so only an unchanged file may load.
    const ok = cleanOutcome(`weights #${i}`, () => void loadModel(dir), ModelFileError, join(dir, "weights.bin"));
    assert.equal(ok, Buffer.compare(Buffer.from(bytes), original) === 0, `weights #${i}: accepted a changed file`);
  });
  assert.ok(n >= 100, `only ${n} inputs in the budget`);
});

/** Opens a store and reads every row: what an accepted store must allow. */
function openAndReadAll(dir: string): void {
  const s = FeatureStore.open(dir);
  try {
    for (const id of s.ids) assert.equal(s.read(id).length, s.L * s.D);
    assert.equal(new Set(s.ids).size, s.ids.length, "no image twice");
  } finally {
    s.close();
  }
}

test("fuzz: feature-store manifest", async () => {
  const { dir, manifest } = handMadeStore();
  const text = JSON.stringify(manifest);
  const n = await fuzzLoop(303, 3000, BUDGET_MS, (rng, i) => {
    writeFileSync(join(dir, "manifest.json"), mutatedJsonText(rng, text));
    cleanOutcome(`manifest #${i}`, () => openAndReadAll(dir), FeatureStoreError, dir);
  });
  assert.ok(n >= 100, `only ${n} inputs in the budget`);
});

test("fuzz: feature-store shards", async () => {
  const { dir } = handMadeStore();
  const shards = readdirSync(dir).filter((f) => f.endsWith(".f16"));
  const originals = shards.map((f) => readFileSync(join(dir, f)));
  const n = await fuzzLoop(404, 3000, BUDGET_MS, (rng, i) => {
    const k = rng.int(shards.length);
    shards.forEach((f, j) => writeFileSync(join(dir, f), j === k ? mutateBytes(rng, originals[j]) : originals[j]));
    const sizeKept = readFileSync(join(dir, shards[k])).length === originals[k].length;
    // Rows carry no checksum: a same-size change is read as data; any other size is refused at open.
    const ok = cleanOutcome(`shard #${i}`, () => openAndReadAll(dir), FeatureStoreError, dir);
    assert.equal(ok, sizeKept, `shard #${i}: size kept ${sizeKept}, accepted ${ok}`);
  });
  assert.ok(n >= 100, `only ${n} inputs in the budget`);
});

/** What an accepted dataset must hold: distinct ids, and captions that each have a word. */
function checkDataset(path: string): void {
  const ds = loadDataset(path);
  const ids = ds.images.map((im) => im.id);
  assert.equal(new Set(ids).size, ids.length, "distinct ids");
  for (const im of ds.images) {
    assert.ok(typeof im.id === "string" && im.id.length > 0);
    for (const c of im.captions) assert.ok(tokenize(c).length > 0, `caption ${JSON.stringify(c)} has words`);
  }
}

test("fuzz: caption files (JSONL, CSV, Flickr8k token file, Karpathy JSON, COCO JSON)", async () => {
  const work = mkdtempSync(join(tmpdir(), "sat-fuzz-ds-"));
  const flickr = join(work, "flickr8k");
  cpSync(join(FIX, "flickr8k"), flickr, { recursive: true });
  const coco = join(work, "captions_val2014.json");
  const targets: { file: string; original: string; json: boolean; load: string }[] = [
    { file: join(work, "custom.jsonl"), original: readFileSync(join(FIX, "custom.jsonl"), "utf8"), json: false, load: join(work, "custom.jsonl") },
    { file: join(work, "custom.csv"), original: readFileSync(join(FIX, "custom.csv"), "utf8"), json: false, load: join(work, "custom.csv") },
    { file: join(flickr, "Flickr8k.token.txt"), original: readFileSync(join(FIX, "flickr8k/Flickr8k.token.txt"), "utf8"), json: false, load: flickr },
    { file: join(flickr, "Flickr_8k.trainImages.txt"), original: readFileSync(join(FIX, "flickr8k/Flickr_8k.trainImages.txt"), "utf8"), json: false, load: flickr },
    { file: join(work, "dataset_flickr8k.json"), original: readFileSync(join(FIX, "dataset_flickr8k.json"), "utf8"), json: true, load: join(work, "dataset_flickr8k.json") },
    { file: coco, original: readFileSync(join(FIX, "coco/annotations/captions_val2014.json"), "utf8"), json: true, load: coco },
  ];
  for (const t of targets) writeFileSync(t.file, t.original);
  const n = await fuzzLoop(505, 5000, 2 * BUDGET_MS, (rng, i) => {
    const t = targets[i % targets.length];
    writeFileSync(t.file, t.json ? mutatedJsonText(rng, t.original) : rng.next() < 0.8 ? mutateText(rng, t.original) : mutateBytes(rng, Buffer.from(t.original)));
    cleanOutcome(`${t.file} #${i}`, () => checkDataset(t.load), DatasetError, work);
    writeFileSync(t.file, t.original);
  });
  assert.ok(n >= 150, `only ${n} inputs in the budget`);
});

test("fuzz: eval inputs (hypotheses in three layouts, references in two)", async () => {
  const work = mkdtempSync(join(tmpdir(), "sat-fuzz-eval-"));
  const hypJsonl = ['{"image_id": "a.jpg", "caption": "a dog runs"}', '{"image_id": 42, "caption": "a cat"}', '{"image": "c.jpg", "text": "two men"}'].join("\n") + "\n";
  const hypArray = JSON.stringify([{ image_id: 1, caption: "a train" }, { image_id: 2, caption: "a red train" }]);
  const hypObject = JSON.stringify({ "a.jpg": "a dog", "b.jpg": ["a cat"] });
  const refObject = JSON.stringify({ "a.jpg": ["a dog runs", "the dog"], "b.jpg": ["a cat sleeps"] });
  const refCoco = readFileSync(join(FIX, "coco/annotations/captions_val2014.json"), "utf8");
  const targets: { name: string; text: string; json: boolean; read: (p: string) => Map<string, unknown> }[] = [
    { name: "hyps.jsonl", text: hypJsonl, json: false, read: readHypotheses },
    { name: "hyps-array.json", text: hypArray, json: true, read: readHypotheses },
    { name: "hyps-object.json", text: hypObject, json: true, read: readHypotheses },
    { name: "refs.json", text: refObject, json: true, read: readReferences },
    { name: "refs-coco.json", text: refCoco, json: true, read: readReferences },
  ];
  const n = await fuzzLoop(606, 5000, BUDGET_MS, (rng, i) => {
    const t = targets[i % targets.length];
    const p = join(work, t.name);
    writeFileSync(p, t.json ? mutatedJsonText(rng, t.text) : rng.next() < 0.8 ? mutateText(rng, t.text) : mutateBytes(rng, Buffer.from(t.text)));
    cleanOutcome(`${t.name} #${i}`, () => {
      const m = t.read(p);
      assert.ok(m.size > 0);
      for (const [id, v] of m) {
        assert.ok(typeof id === "string" && id.length > 0, `id ${JSON.stringify(id)}`);
        assert.ok(typeof v === "string" || (Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === "string" && c.trim() !== "")), `${id}: ${JSON.stringify(v)}`);
      }
    }, UserError, p);
  });
  assert.ok(n >= 100, `only ${n} inputs in the budget`);
});
