// Image variant: rasterised scenes written as PNGs, read back with sharp and checked against
// the scene's boxes and colours.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { BACKGROUND_RGB, COLOUR_RGB, generateSplits, renderScene, writeImageDataset, type Scene } from "../../src/data/synthetic/index.js";

const splits = generateSplits({ train: 12, val: 4, test: 4, seed: 31 });
const all: Scene[] = [...splits.train, ...splits.val, ...splits.test];

async function readRgb(path: string) {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

test("renderScene is deterministic and the canvas size", () => {
  const a = renderScene(all[0]);
  assert.equal(a.length, 224 * 224 * 3);
  assert.deepEqual(renderScene(all[0]), a);
});

test("writeImageDataset: PNGs whose pixels match the objects' colours in their boxes, background elsewhere", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sat-synth-"));
  try {
    const summary = await writeImageDataset(dir, splits);
    assert.equal(summary.images, all.length);
    const lines = (await readFile(join(dir, "captions.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, all.reduce((n, s) => n + s.captions.length, 0));
    assert.equal(summary.captions, lines.length);
    for (const l of lines) {
      assert.deepEqual(Object.keys(l).sort(), ["caption", "image", "split"]);
      assert.ok(existsSync(join(dir, l.image)), l.image);
    }
    const byImage = new Map(all.map((s) => [`images/${s.id}.png`, s]));
    for (const l of lines) {
      const s = byImage.get(l.image)!;
      assert.equal(l.split, s.split);
      assert.ok(s.captions.some((c) => c.text === l.caption));
    }
    const stored = JSON.parse(await readFile(join(dir, "scenes.json"), "utf8")) as Scene[];
    assert.deepEqual(stored.map((s) => s.objects), all.map((s) => s.objects));
    assert.deepEqual(stored.map((s) => s.captions), all.map((s) => s.captions));

    for (const s of all) {
      const { data, info } = await readRgb(join(dir, "images", `${s.id}.png`));
      assert.deepEqual([info.width, info.height, info.channels], [224, 224, 3]);
      const px = (x: number, y: number) => [data[(y * 224 + x) * 3], data[(y * 224 + x) * 3 + 1], data[(y * 224 + x) * 3 + 2]];
      for (const o of s.objects) {
        const cx = Math.floor((o.box.x0 + o.box.x1) / 2);
        const cy = Math.floor((o.box.y0 + o.box.y1) / 2);
        // Every shape covers the middle of its box (the star's core, the cross's centre, the
        // triangle at half height is half as wide as the box): exact colour there.
        assert.deepEqual(px(cx, cy), [...COLOUR_RGB[o.colour]], `${s.id} ${o.colour} ${o.shape} centre`);
        // The top-left corner of the box is inside only for the square.
        const corner = px(o.box.x0, o.box.y0);
        assert.deepEqual(corner, o.shape === "square" ? [...COLOUR_RGB[o.colour]] : [...BACKGROUND_RGB], `${s.id} ${o.shape} corner`);
        // Anti-aliased pixels are blends of background and object colour: each channel lies
        // between the two (rounding: 1 level).
        for (let y = o.box.y0; y < o.box.y1; y++) {
          for (let x = o.box.x0; x < o.box.x1; x++) {
            const p = px(x, y);
            for (let c = 0; c < 3; c++) {
              const lo = Math.min(BACKGROUND_RGB[c], COLOUR_RGB[o.colour][c]) - 1;
              const hi = Math.max(BACKGROUND_RGB[c], COLOUR_RGB[o.colour][c]) + 1;
              assert.ok(p[c] >= lo && p[c] <= hi, `${s.id} (${x},${y}) channel ${c}: ${p[c]}`);
            }
          }
        }
      }
      // Outside every box: background, exactly.
      let outside = 0;
      for (let y = 0; y < 224; y += 3) {
        for (let x = 0; x < 224; x += 3) {
          if (s.objects.some((o) => x >= o.box.x0 && x < o.box.x1 && y >= o.box.y0 && y < o.box.y1)) continue;
          assert.deepEqual(px(x, y), [...BACKGROUND_RGB], `${s.id} (${x},${y})`);
          outside++;
        }
      }
      assert.ok(outside > 1000);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("writeImageDataset refuses duplicate ids", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sat-synth-"));
  try {
    await assert.rejects(writeImageDataset(dir, [all[0], all[0]]), /duplicate/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
