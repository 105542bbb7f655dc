// Attention figures: layout, labels that really contain glyphs, overlays that brighten where
// α is, hard-attention markers, and the same output whatever form the image comes in.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { generateScenes, renderScene, renderScenePng } from "../../src/data/synthetic/index.js";
import { labelBackend, renderAttentionFigure, renderSingleMap, setLabelBackend } from "../../src/viz/index.js";

// Layout constants of figure.ts, restated: 10-px outer margin, 8-px gaps, a 32-px label band
// (48 with β).
const OUTER = 10;
const GAP = 8;
const L = 196;

const scene = generateScenes(1, 99, { minObjects: 2, maxObjects: 2 })[0];
const rgb = renderScene(scene);
const obj = scene.objects[0];
const objCell = Math.floor((obj.box.y0 + obj.box.y1) / 32) * 14 + Math.floor((obj.box.x0 + obj.box.x1) / 32);
const oneHot = (i: number) => {
  const a = new Float32Array(L);
  a[i] = 1;
  return a;
};
const uniform = new Float32Array(L).fill(1 / L);
const words = ["a", obj.colour, obj.shape, "<end>"];
const alphas = [uniform, oneHot(objCell), oneHot(objCell), uniform];

async function decode(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const px = (x: number, y: number) => [0, 1, 2].map((c) => data[(y * info.width + x) * info.channels + c]);
  return { data, info, px };
}

/** Pixels in a rectangle darker than mid grey: text ink on the white label band. */
function ink(px: (x: number, y: number) => number[], x0: number, y0: number, w: number, h: number): number {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (Math.max(...px(x, y)) < 160) n++;
  return n;
}

after(() => setLabelBackend(null));

test("figure: one row of image + word panels, sized by the layout, readable by sharp", async () => {
  const png = await renderAttentionFigure({ image: rgb, words, alphas });
  const { info } = await decode(png);
  assert.equal(info.width, 2 * OUTER + 5 * (224 + GAP) - GAP);
  assert.equal(info.height, 2 * OUTER + 224 + 32);
  const wrapped = await decode(await renderAttentionFigure({ image: rgb, words, alphas, betas: [0.1, 0.2, 0.3, 0.4], columns: 2 }));
  assert.equal(wrapped.info.width, 2 * OUTER + 2 * (224 + GAP) - GAP);
  assert.equal(wrapped.info.height, 2 * OUTER + 3 * (224 + 48 + GAP) - GAP);
});

test("labels contain glyphs (font text when this machine has fonts, else the bitmap font)", async () => {
  for (const backend of [null, "bitmap"] as const) {
    setLabelBackend(backend);
    const { px } = await decode(await renderAttentionFigure({ image: rgb, words: ["triangle", ""], alphas: [uniform, uniform] }));
    const band = (k: number) => ink(px, OUTER + k * (224 + GAP), OUTER, 224, 32);
    // "triangle" at 20 px: several hundred dark pixels; an empty label: none (the band is
    // white, so any ink must come from the text).
    assert.ok(band(1) > 150, `${backend ?? (await labelBackend())}: ${band(1)} ink pixels for "triangle"`);
    assert.equal(band(2), 0);
  }
  setLabelBackend(null);
  // This machine has fonts (DejaVu): the probe must pick real text rendering.
  assert.equal(await labelBackend(), "svg");
});

test("overlay: the image panel is the image; a word panel keeps the attended object bright and dims the rest", async () => {
  const { px } = await decode(await renderAttentionFigure({ image: rgb, words, alphas }));
  const at = (panel: number, x: number, y: number) => px(OUTER + panel * (224 + GAP) + x, OUTER + 32 + y);
  const orig = (x: number, y: number) => [0, 1, 2].map((c) => rgb[(y * 224 + x) * 3 + c]);
  for (const [x, y] of [[0, 0], [100, 37], [223, 223], [Math.floor((obj.box.x0 + obj.box.x1) / 2), Math.floor((obj.box.y0 + obj.box.y1) / 2)]]) {
    assert.deepEqual(at(0, x, y), orig(x, y));
  }
  // Attended cell centre: the map's maximum, so the pixel keeps full brightness plus a haze.
  const cx = (objCell % 14) * 16 + 8;
  const cy = Math.floor(objCell / 14) * 16 + 8;
  const bright = at(2, cx, cy);
  const o = orig(cx, cy);
  for (let c = 0; c < 3; c++) assert.ok(bright[c] >= o[c], `channel ${c}: ${bright[c]} < ${o[c]}`);
  // A far corner, > 5σ from the attended cell, is dimmed to 18% (rounding: 1 level).
  const fx = cx < 112 ? 220 : 3;
  const fy = cy < 112 ? 220 : 3;
  const dim = at(2, fx, fy);
  const od = orig(fx, fy);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(dim[c] - 0.18 * od[c]) <= 1, `channel ${c}: ${dim[c]} vs ${0.18 * od[c]}`);
  // Uniform α: a flat map, every pixel at full brightness plus the same haze.
  const flatA = at(1, fx, fy);
  const flatB = at(1, cx, cy);
  const ob = orig(cx, cy);
  for (let c = 0; c < 3; c++) {
    assert.equal(flatA[c] - od[c], 70);
    assert.equal(flatB[c], Math.min(255, ob[c] + 70));
  }
});

test("normalise 'figure': one scale for all panels, so a uniform map stays dim next to a focused one", async () => {
  const { px } = await decode(await renderAttentionFigure({ image: rgb, words, alphas, normalise: "figure" }));
  const at = (panel: number, x: number, y: number) => px(OUTER + panel * (224 + GAP) + x, OUTER + 32 + y);
  const cx = (objCell % 14) * 16 + 8;
  const cy = Math.floor(objCell / 14) * 16 + 8;
  const orig = (x: number, y: number) => [0, 1, 2].map((c) => rgb[(y * 224 + x) * 3 + c]);
  // The uniform map's density (1/224²) is a small fraction of the one-hot map's peak, so its
  // panel is dimmed nearly to the 18% floor everywhere: below 30% of the image.
  for (const [x, y] of [[cx, cy], [3, 3], [220, 220]]) {
    const p = at(1, x, y);
    const o = orig(x, y);
    for (let c = 0; c < 3; c++) assert.ok(p[c] <= 0.3 * o[c] + 1, `(${x},${y}) channel ${c}: ${p[c]} vs image ${o[c]}`);
  }
  // The focused panel still reaches full brightness at its peak.
  const peak = at(2, cx, cy);
  const o = orig(cx, cy);
  for (let c = 0; c < 3; c++) assert.ok(peak[c] >= o[c]);
});

test("hard attention: the sampled cell is outlined", async () => {
  const { px } = await decode(await renderAttentionFigure({ image: rgb, words: ["x"], alphas: [uniform], locations: [16], showImage: false }));
  // Cell 16 = row 1, col 2: x 32..47, y 16..31; the outline is 2 px of (0, 230, 255).
  const at = (x: number, y: number) => px(OUTER + x, OUTER + 32 + y);
  assert.deepEqual(at(32, 16), [0, 230, 255]);
  assert.deepEqual(at(47, 24), [0, 230, 255]);
  assert.deepEqual(at(40, 31), [0, 230, 255]);
  assert.notDeepEqual(at(40, 24), [0, 230, 255]);
  assert.notDeepEqual(at(30, 24), [0, 230, 255]);
});

test("renderSingleMap: the heatmap alone and a single panel, with or without a label", async () => {
  const { heatmap, png } = await renderSingleMap({ image: rgb, alpha: oneHot(objCell) });
  assert.equal(heatmap.length, 224 * 224);
  assert.ok(Math.abs(heatmap.reduce((a, x) => a + x, 0) - 1) < 1e-5);
  const plain = await decode(png);
  assert.deepEqual([plain.info.width, plain.info.height], [224, 224]);
  const labelled = await decode((await renderSingleMap({ image: rgb, alpha: oneHot(objCell), word: obj.shape, beta: 0.5, sigma: 8 })).png);
  assert.deepEqual([labelled.info.width, labelled.info.height], [224 + 2 * OUTER, 224 + 48 + 2 * OUTER]);
  assert.ok(ink(labelled.px, OUTER, OUTER, 224, 48) > 100);
});

test("the image may be raw RGB, PNG bytes or a path, with the same result; bad inputs are named", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sat-viz-"));
  try {
    const pngBytes = await renderScenePng(scene);
    const path = join(dir, "scene.png");
    await writeFile(path, pngBytes);
    const fromRaw = await renderAttentionFigure({ image: rgb, words, alphas, style: "colormap" });
    assert.deepEqual(await renderAttentionFigure({ image: pngBytes, words, alphas, style: "colormap" }), fromRaw);
    assert.deepEqual(await renderAttentionFigure({ image: path, words, alphas, style: "colormap" }), fromRaw);
    assert.notDeepEqual(await renderAttentionFigure({ image: rgb, words, alphas }), fromRaw, "styles differ");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(renderAttentionFigure({ image: rgb, words, alphas: alphas.slice(1) }), /alphas/);
  await assert.rejects(renderAttentionFigure({ image: rgb, words, alphas, betas: [1] }), /betas/);
  await assert.rejects(renderAttentionFigure({ image: rgb, words: ["a"], alphas: [new Float32Array(10)] }), /grid/);
});
