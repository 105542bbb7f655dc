import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { UserError } from "../../src/errors.js";
import { imagesOf, loadDataset, loadDatasets, readCoco, readFlickr8k, readKarpathy, splitCounts } from "../../src/data/datasets.js";
import { lengthStatsBySplit } from "../../src/data/buckets.js";
import { Vocabulary } from "../../src/data/vocab.js";

const FIX = resolve(import.meta.dirname, "../fixtures/data");
// A real Flickr8k folder, when the machine has one (never part of the repository).
const FLICKR8K = process.env.SAT_FLICKR8K ?? "";

test("Flickr8k layout: splits, 5-caption cap, images in no split", () => {
  const ds = readFlickr8k(join(FIX, "flickr8k"));
  assert.equal(ds.format, "flickr8k");
  const byId = Object.fromEntries(ds.images.map((im) => [im.id, im]));
  assert.equal(byId["a.jpg"].split, "train");
  assert.equal(byId["c.jpg"].split, "val", "dev maps to val");
  assert.equal(byId["d.jpg"].split, "test");
  assert.equal(byId["e.jpg"].split, "none", "in the token file but no split list");
  // Six captions in the file, the paper keeps five: the first five in file order.
  assert.equal(byId["a.jpg"].captions.length, 5);
  assert.equal(byId["a.jpg"].captions[4], "Dog running on grass .");
  assert.equal(ds.droppedCaptions, 1);
  assert.equal(byId["a.jpg"].file, join(FIX, "flickr8k", "images", "a.jpg"));
  assert.deepEqual(splitCounts(ds).train, { images: 2, captions: 7 });
});

test("Karpathy JSON: restval goes to train, raw captions kept, filepath joined, cap at 5", () => {
  const ds = readKarpathy(join(FIX, "dataset_flickr8k.json"));
  const byId = Object.fromEntries(ds.images.map((im) => [im.id, im]));
  assert.equal(byId["b.jpg"].split, "train");
  assert.deepEqual(byId["a.jpg"].captions, ["A dog runs.", "A dog."]);
  assert.deepEqual(byId["c.jpg"].captions, ["a red hat"], "tokens joined when raw is absent");
  assert.equal(byId["val2014/d.jpg"].captions.length, 5);
  assert.equal(byId["val2014/d.jpg"].file, join(FIX, "val2014", "d.jpg"));
  assert.equal(ds.droppedCaptions, 2);
});

test("COCO captions_*.json: split from the file name, images under <root>/val2014", () => {
  const ds = readCoco(join(FIX, "coco/annotations/captions_val2014.json"));
  assert.equal(ds.images.length, 2);
  assert.ok(ds.images.every((im) => im.split === "val"));
  const im = ds.images.find((x) => x.id === "COCO_val2014_000000000042.jpg")!;
  assert.deepEqual(im.captions, ["A train on the tracks.", "A red train."]);
  assert.equal(im.file, join(FIX, "coco/val2014/COCO_val2014_000000000042.jpg"));
});

test("JSONL and CSV of {image, caption, split}; format told from the path", () => {
  const j = loadDataset(join(FIX, "custom.jsonl"));
  assert.equal(j.format, "jsonl");
  assert.deepEqual(
    j.images.map((im) => [im.id, im.split, im.captions.length]),
    [["imgs/one.png", "train", 2], ["imgs/two.png", "val", 1], ["imgs/three.png", "test", 1]],
  );
  assert.equal(j.images[0].file, join(FIX, "imgs/one.png"));
  const c = loadDataset(join(FIX, "custom.csv"));
  assert.equal(c.format, "csv");
  assert.deepEqual(c.images[0].captions, ["a red circle, above a blue square", 'a "quoted" word\nspanning two lines']);
  assert.equal(c.images[1].split, "val");
  assert.equal(loadDataset(join(FIX, "dataset_flickr8k.json")).format, "karpathy");
  assert.equal(loadDataset(join(FIX, "coco/annotations/captions_val2014.json")).format, "coco");
  assert.equal(loadDataset(join(FIX, "flickr8k")).format, "flickr8k");
});

test("several files load as one dataset; an image in two of them is an error", () => {
  const ds = loadDatasets([join(FIX, "custom.jsonl"), join(FIX, "coco/annotations/captions_val2014.json")]);
  assert.equal(ds.images.length, 5);
  assert.throws(() => loadDatasets([join(FIX, "custom.jsonl"), join(FIX, "custom.csv")]), UserError);
});

test("bad input is a UserError naming the file, line and field", () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-ds-"));
  const bad = (name: string, text: string, pattern: RegExp) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    assert.throws(() => loadDataset(p), (e: unknown) => e instanceof UserError && pattern.test(e.message) && e.message.includes(p) && !e.message.includes("\n"));
  };
  bad("a.jsonl", '{"image": "x.png", "caption": "hi", "split": "train"}\n{"image": "y.png", "caption": 3, "split": "train"}\n', /:2: field 'caption'/);
  bad("b.jsonl", '{"image": "x.png", "caption": "hi", "split": "holdout"}\n', /:1: field 'split': unknown split 'holdout'/);
  bad("c.jsonl", "not json\n", /:1: not valid JSON/);
  bad("d.csv", "image,text,split\nx.png,hi,train\n", /header has no 'caption' column/);
  bad("e.csv", "image,caption,split\nx.png,hi\n", /:2: 2 fields/);
  bad("f.json", '{"something": 1}', /neither a Karpathy/);
  bad("g.jsonl", '{"image": "x.png", "caption": "hi", "split": "train"}\n{"image": "x.png", "caption": "ho", "split": "test"}\n', /two splits/);
  assert.throws(() => loadDataset(join(dir, "missing.jsonl")), UserError);
});

test("Flickr8k (shared copy): official split sizes and the paper's vocabulary", (t) => {
  if (!FLICKR8K || !existsSync(join(FLICKR8K, "Flickr8k.token.txt"))) {
    t.skip(`set SAT_FLICKR8K to a Flickr8k folder to run this (${FLICKR8K ? `not found: ${FLICKR8K}` : "unset"})`);
    return;
  }
  const ds = loadDataset(FLICKR8K);
  const n = splitCounts(ds);
  assert.deepEqual(n.train, { images: 6000, captions: 30000 });
  assert.deepEqual(n.val, { images: 1000, captions: 5000 });
  assert.deepEqual(n.test, { images: 1000, captions: 5000 });
  // 8,092 ids in the token file: 8,091 photos plus one id without a photo (the token file's quirk);
  // 92 of them are in no official split.
  assert.equal(ds.images.length, 8092);
  assert.equal(n.none.images, 92);
  assert.equal(ds.droppedCaptions, 0);
  const train = imagesOf(ds, "train").flatMap((im) => im.captions);
  // Paper's rule, top 10,000 words: Flickr8k's training split has fewer distinct words
  // (7,690 under our tokeniser), so every one is kept, plus the 4 special tokens.
  const v = Vocabulary.build(train, { maxSize: 10000 });
  assert.equal(v.rule.trainingWords, 7690);
  assert.equal(v.size, 7694);
  assert.deepEqual(v.words.slice(0, 8), ["<pad>", "<start>", "<end>", "<unk>", "a", "in", "the", "on"]);
  const stats = lengthStatsBySplit(ds);
  assert.equal(stats.train.captions, 30000);
  // Flickr8k captions are short: about 11 words on average (+1 for <end>).
  assert.ok(stats.train.mean > 10 && stats.train.mean < 14, `mean T ${stats.train.mean}`);
  for (const s of ["train", "val", "test"] as const) {
    const x = stats[s];
    t.diagnostic(`${s}: ${x.captions} captions, T min ${x.min} median ${x.median} mean ${x.mean.toFixed(2)} p95 ${x.p95} max ${x.max}`);
  }
});
