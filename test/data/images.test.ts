import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { ImageError, loadImage, prepareImage } from "../../src/data/images.js";
import { writeBadImages, writeGoodImages } from "./image-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sat-img-"));
const ready = writeGoodImages(dir, { huge: true });

/** RGB at (x, y) of a 224x224x3 image. */
const px = (p: Uint8Array, x: number, y: number) => [p[(y * 224 + x) * 3], p[(y * 224 + x) * 3 + 1], p[(y * 224 + x) * 3 + 2]];
/** Largest channel difference. */
const near = (a: number[], b: number[], tol: number, what: string) => assert.ok(a.every((v, i) => Math.abs(v - b[i]) <= tol), `${what}: ${a} vs ${b} (tol ${tol})`);

test("every good input decodes to 224x224 RGB with the right colours in the right places", async () => {
  await ready;
  // 300x200 -> 384x256 -> crop x 80..303, y 16..239 (in resized pixels). In source pixels the
  // crop's top-left is (62.5, 12.5): red+green; bottom-right (237, 187): blue only.
  // JPEG tolerance 8 levels: lossy chroma; lossless formats 2 (lanczos ringing near edges is
  // far from these sample points).
  const cases: [string, number][] = [["rgb.jpg", 8], ["rgb.png", 2], ["rgb.webp", 2], ["rgb16.png", 2]];
  for (const [name, tol] of cases) {
    const im = await loadImage(join(dir, name));
    assert.equal(im.pixels.length, 224 * 224 * 3);
    assert.deepEqual([im.width, im.height], [300, 200]);
    near(px(im.pixels, 2, 2), [255, 255, 60], tol, `${name} top-left`);
    near(px(im.pixels, 221, 221), [0, 0, 60], tol, `${name} bottom-right`);
    near(px(im.pixels, 221, 2), [0, 255, 60], tol, `${name} top-right`);
  }
  const gray = await loadImage(join(dir, "gray.jpg"));
  const g = px(gray.pixels, 2, 2);
  assert.ok(g[0] === g[1] && g[1] === g[2] && g[0] > 200, `grayscale becomes 3 equal channels: ${g}`);
  // CMYK without an embedded profile round-trips through sharp's default profile: only the
  // dominant hues are checked.
  const c = px((await loadImage(join(dir, "cmyk.jpg"))).pixels, 221, 221);
  assert.ok(c[2] > c[0] + 10 && c[2] > c[1] + 10, `CMYK bottom-right should be bluish: ${c}`);
  // 50% alpha over white: 0.5 * v + 0.5 * 255.
  near(px((await loadImage(join(dir, "alpha.png"))).pixels, 221, 221), [128, 128, 158], 2, "alpha over white");
  // Orientation 6 rotates 90 degrees clockwise: the top (green) half ends up on the right.
  const r = await loadImage(join(dir, "exif6.jpg"));
  assert.deepEqual([r.width, r.height], [200, 300]);
  assert.ok(px(r.pixels, 221, 112)[1] > 200 && px(r.pixels, 2, 112)[1] < 50, "EXIF orientation applied");
  near(px((await loadImage(join(dir, "one.png"))).pixels, 100, 100), [10, 20, 30], 1, "1x1 upsampled");
  const huge = await loadImage(join(dir, "huge.jpg"));
  near(px(huge.pixels, 112, 112), [10, 200, 30], 3, "8000x8000");
});

test("shorter side to 256, centre crop 224: exact geometry on a gradient", async () => {
  // 512x256 is already 256 on its shorter side, so the crop is a pure window: x 144..367.
  const w = 512, h = 256;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([x >> 1, y, 0], (y * w + x) * 3);
  const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  const im = await prepareImage(png);
  near(px(im.pixels, 0, 0), [72, 16, 0], 1, "crop origin (144, 16)");
  near(px(im.pixels, 223, 223), [183, 239, 0], 1, "crop end (367, 239)");
  // A 224x224 image is taken as is (already preprocessed): byte-identical.
  const sq = Buffer.alloc(224 * 224 * 3);
  for (let i = 0; i < sq.length; i++) sq[i] = (i * 31) & 255;
  const sqPng = await sharp(sq, { raw: { width: 224, height: 224, channels: 3 } }).png().toBuffer();
  assert.deepEqual(Buffer.from((await prepareImage(sqPng)).pixels), sq);
  // ...unless asked otherwise: then it is zoomed (resize 256, crop 224) and no longer equal.
  assert.notDeepEqual(Buffer.from((await prepareImage(sqPng, { crop: 224, resize: 256, keepExactCrop: false })).pixels), sq);
});

test("unusable files are ImageErrors with a one-line reason", async () => {
  await ready;
  const bad = writeBadImages(dir);
  for (const [name, reason] of Object.entries(bad)) {
    await assert.rejects(loadImage(join(dir, name)), (e: unknown) => e instanceof ImageError && reason.test(e.reason) && !e.reason.includes("\n"), name);
  }
  await assert.rejects(loadImage(dir), (e: unknown) => e instanceof ImageError && /folder/.test(e.reason));
});
