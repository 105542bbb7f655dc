import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { scoreCaptions } from "../../src/metrics/index.js";
import { loadDataset } from "../../src/data/datasets.js";
import { extractFeatures } from "../../src/features/extract.js";
import { FeatureStore } from "../../src/data/feature-store.js";
import { beamSearch } from "../../src/decode/beam.js";
import { beamOptionsFor } from "../../src/decode/caption-features.js";
import { loadEncoder } from "../../src/encoder/spec.js";
import { loadModel } from "../../src/model/model-dir.js";
import { ReferenceEngine } from "../../src/model/reference.js";
import { buildTinyCaptionModel } from "../encoder/tiny-model.js";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "sat-eval-"));

function sat(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/index.ts", "eval", ...args], { cwd: root, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const refs = {
  "1000.jpg": ["A dog runs on the grass.", "A brown dog is running across a lawn."],
  "1001.jpg": ["Two children play in the snow.", "Kids playing in snow!"],
};
const hyps = { "1000.jpg": "a dog runs on grass", "1001.jpg": "two children play in snow" };
writeFileSync(join(dir, "refs.json"), JSON.stringify(refs));
writeFileSync(join(dir, "hyps.json"), JSON.stringify(hyps));
writeFileSync(join(dir, "hyps.jsonl"), Object.entries(hyps).map(([image_id, caption]) => JSON.stringify({ image_id, caption })).join("\n") + "\n");
writeFileSync(join(dir, "results.json"), JSON.stringify(Object.entries(hyps).map(([image_id, caption]) => ({ image_id, caption }))));

test("--json prints the 0-1 summary, the same for all hypothesis formats", () => {
  const expected = scoreCaptions(refs, hyps, { meteor: false });
  let first: string | null = null;
  for (const f of ["hyps.json", "hyps.jsonl", "results.json"]) {
    const r = sat("--hyps", join(dir, f), "--refs", join(dir, "refs.json"), "--json", "--no-meteor");
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j), ["bleu", "bleu_nobp", "meteor", "rouge_l", "cider"]);
    assert.deepEqual(j.bleu, expected.bleu);
    assert.equal(j.cider, expected.cider);
    assert.equal(j.meteor, null);
    first ??= r.stdout;
    assert.equal(r.stdout, first, f);
  }
});

test("the table labels METEOR and both BLEU variants and a report is written", () => {
  const out = join(dir, "report.json");
  const r = sat(join(dir, "hyps.jsonl"), "--refs", join(dir, "refs.json"), "--out", out, "--no-meteor");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /METEOR \(no paraphrase\)/);
  assert.match(r.stdout, /BLEU without BP/);
  assert.match(r.stdout, /CIDEr-D/);
  const rep = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(rep.images, 2);
  assert.deepEqual(Object.keys(rep.per_image).sort(), ["1000.jpg", "1001.jpg"]);
});

test("mismatched image sets exit 2 with a one-line message naming the files", () => {
  writeFileSync(join(dir, "bad.json"), JSON.stringify({ "1000.jpg": "a dog", "9999.jpg": "a cat" }));
  const r = sat("--hyps", join(dir, "bad.json"), "--refs", join(dir, "refs.json"), "--json", "--no-meteor");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sat: .*bad\.json vs .*refs\.json: image sets differ: 1 captioned image\(s\) have no references \(9999\.jpg\); 1 reference image\(s\) have no caption \(1001\.jpg\)\n$/);
});

test("a WordNet folder that is not one is refused before scoring", () => {
  const r = sat("--hyps", join(dir, "hyps.json"), "--refs", join(dir, "refs.json"), "--wordnet", join(dir, "nowhere"));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nowhere: not a WordNet database folder \(no index\.noun\).*or pass --no-meteor/);
});

test("bad input files are named", () => {
  writeFileSync(join(dir, "dup.jsonl"), '{"image_id": "1000.jpg", "caption": "a"}\n{"image_id": "1000.jpg", "caption": "b"}\n');
  const dup = sat("--hyps", join(dir, "dup.jsonl"), "--refs", join(dir, "refs.json"), "--no-meteor");
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /dup\.jsonl:2: image '1000\.jpg' has more than one generated caption/);
  writeFileSync(join(dir, "badrefs.json"), JSON.stringify({ "1000.jpg": "not a list" }));
  const br = sat("--hyps", join(dir, "hyps.json"), "--refs", join(dir, "badrefs.json"), "--no-meteor");
  assert.equal(br.code, 2);
  assert.match(br.stderr, /badrefs\.json: image '1000\.jpg': expected an array of caption strings/);
});

test("--data reads the references of a split from a dataset folder (Flickr8k layout)", () => {
  const ds = join(dir, "flickr");
  mkdirSync(ds);
  const token = Object.entries(refs).flatMap(([id, cs]) => cs.map((c, i) => `${id}#${i}\t${c}`)).join("\n") + "\n";
  writeFileSync(join(ds, "Flickr8k.token.txt"), token);
  writeFileSync(join(ds, "Flickr_8k.trainImages.txt"), "");
  writeFileSync(join(ds, "Flickr_8k.devImages.txt"), "");
  writeFileSync(join(ds, "Flickr_8k.testImages.txt"), Object.keys(refs).join("\n") + "\n");
  const a = sat("--hyps", join(dir, "hyps.json"), "--data", ds, "--split", "test", "--json", "--no-meteor");
  const b = sat("--hyps", join(dir, "hyps.json"), "--refs", join(dir, "refs.json"), "--json", "--no-meteor");
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  // A COCO-style results file with bare ids ("1000" for 1000.jpg) is matched through the
  // unambiguous file-name aliases.
  writeFileSync(join(dir, "bare.json"), JSON.stringify([{ image_id: 1000, caption: hyps["1000.jpg"] }, { image_id: 1001, caption: hyps["1001.jpg"] }]));
  const c = sat("--hyps", join(dir, "bare.json"), "--data", ds, "--json", "--no-meteor");
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, b.stdout);
});

test("--model captions the split from the feature store exactly as decoding each image alone would", async () => {
  const work = join(dir, "model-eval");
  mkdirSync(join(work, "photos"), { recursive: true });
  const model = await buildTinyCaptionModel(work, ["a red circle", "a blue square above a red circle", "a green star"]);
  const rows: string[] = [];
  for (let i = 0; i < 9; i++) {
    const name = `photos/p${i}.png`;
    await sharp({ create: { width: 20 + 3 * i, height: 24, channels: 3, background: { r: (i * 70) % 256, g: (i * 40) % 256, b: 255 - i * 25 } } }).png().toFile(join(work, name));
    rows.push(JSON.stringify({ image: name, caption: "a red circle", split: "test" }));
  }
  const data = join(work, "data.jsonl");
  writeFileSync(data, rows.join("\n") + "\n");
  const { meta, params, vocab } = loadModel(model);
  const store = join(work, "features");
  const encoder = await loadEncoder(meta.encoder.spec!);
  await extractFeatures({ images: loadDataset(data).images, out: store, encoder });
  encoder.dispose();

  const features = FeatureStore.open(store);
  const reference = new ReferenceEngine(meta.config, Float32Array.from(params));
  const lengths = new Set<number>();
  for (const beamWidth of [1, 3]) {
    const saved = join(work, `captions-beam${beamWidth}.jsonl`);
    const r = sat("--model", model, "--features", store, "--data", data, "--split", "test", "--beam", String(beamWidth), "--engine", "reference", "--no-meteor", "--json", "--save-captions", saved);
    assert.equal(r.code, 0, r.stderr);
    const written = new Map(readFileSync(saved, "utf8").trim().split("\n").map((l) => {
      const j = JSON.parse(l) as { image_id: string; caption: string };
      return [j.image_id, j.caption] as const;
    }));
    assert.equal(written.size, 9);
    for (const im of loadDataset(data).images) {
      const alone = beamSearch(reference, features.readBatch([im.id]), 1, beamOptionsFor({ beamWidth }))[0][0];
      assert.equal(written.get(im.id), vocab.decode(alone.tokens).join(" "), `beam ${beamWidth}: ${im.id}`);
      lengths.add(alone.tokens.length);
    }
  }
  // Captions of different lengths: the batch shrinks while some images still decode.
  assert.ok(lengths.size >= 2, `every caption has ${[...lengths]} words`);
  features.close();
});
