// `sat caption` end to end on a model whose encoder is a tiny tfjs network the test builds:
// photos in, captions with per-word attention out (text, JSON, figures), bad images reported
// and skipped without stopping the rest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { buildTinyCaptionModel } from "../encoder/tiny-model.js";

const root = new URL("../..", import.meta.url).pathname;

async function setup(): Promise<{ dir: string; model: string; photos: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sat-caption-"));
  // input 16x16x3 -> "mixed": 8x8 grid, 5 channels (L = 64, D = 5)
  const model = await buildTinyCaptionModel(dir, ["a red circle", "a blue square above a red circle", "a green star"]);
  const photos = join(dir, "photos");
  mkdirSync(photos);
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toFile(join(photos, "red.png"));
  await sharp({ create: { width: 20, height: 50, channels: 3, background: { r: 20, g: 40, b: 220 } } }).jpeg().toFile(join(photos, "blue.jpg"));
  writeFileSync(join(photos, "broken.jpg"), "this is not a jpeg");
  return { dir, model, photos };
}

function sat(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("sat caption: JSON with per-word attention, figures, and a bad image reported and skipped", async () => {
  const { dir, model, photos } = await setup();
  const out = join(dir, "figures");
  const r = sat(["caption", model, photos, "--json", "--top", "2", "--out", out, "--maps"]);
  assert.equal(r.status, 1, "exit status 1: one image could not be read");
  assert.match(r.stderr, /skipped .*broken\.jpg: /);
  assert.match(r.stderr, /1 of 3 images could not be read/);
  const results = JSON.parse(r.stdout) as { image: string; captions: { text: string; words: string[]; logProb: number; score: number; finished: boolean; attention: { word: string; alpha: number[]; beta: number }[] }[] }[];
  assert.deepEqual(results.map((x) => x.image.split("/").pop()), ["blue.jpg", "red.png"]);
  for (const res of results) {
    assert.equal(res.captions.length, 2);
    assert.ok(res.captions[0].score >= res.captions[1].score);
    for (const c of res.captions) {
      assert.equal(c.text, c.words.join(" "));
      assert.equal(c.attention.length, c.words.length + (c.finished ? 1 : 0));
      for (const a of c.attention) {
        assert.equal(a.alpha.length, 64);
        assert.ok(Math.abs(a.alpha.reduce((s, v) => s + v, 0) - 1) < 1e-4);
        assert.ok(a.beta > 0 && a.beta < 1);
      }
      assert.ok(c.words.every((w) => w !== "<unk>" && w !== "<start>" && w !== "<pad>"));
    }
  }
  const files = readdirSync(out).sort();
  const figures = files.filter((f) => /^attention-(blue|red)\.png$/.test(f));
  assert.deepEqual(figures, ["attention-blue.png", "attention-red.png"]);
  // --maps: one PNG per word of the best caption (and <end>), numbered in order.
  for (const res of results) {
    const stem = `attention-${res.image.split("/").pop()!.replace(/\.\w+$/, "")}`;
    const maps = files.filter((f) => f.startsWith(`${stem}-`));
    assert.equal(maps.length, res.captions[0].attention.length);
    res.captions[0].attention.forEach((a, k) => assert.ok(maps.includes(`${stem}-${k}-${a.word.replace(/[^\w-]/g, "_")}.png`)));
  }
  const meta = await sharp(join(out, figures[0])).metadata();
  assert.equal(meta.format, "png");
});

test("sat caption: text output, one line per image", async () => {
  const { model, photos } = await setup();
  const r = sat(["caption", model, join(photos, "red.png"), "--beam", "1"]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /red\.png\t/);
});

test("sat caption --sample-locations: every word reports the location it attended", async () => {
  const { model, photos } = await setup();
  const r = sat(["caption", model, join(photos, "red.png"), "--json", "--sample-locations", "9"]);
  assert.equal(r.status, 0, r.stderr);
  const [res] = JSON.parse(r.stdout) as { captions: { attention: { location?: number }[] }[] }[];
  assert.ok(res.captions[0].attention.length > 0);
  for (const a of res.captions[0].attention) assert.ok(Number.isInteger(a.location) && a.location! >= 0 && a.location! < 64);
});

test("sat caption: a model directory that is not one gives a one-line error", () => {
  const r = sat(["caption", "/nonexistent-model", "x.jpg"]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /^sat: .*model\.json: not found/);
});
