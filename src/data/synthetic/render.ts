/**
 * Image variant of the generated task: scenes rasterised to RGB by a small anti-aliased
 * rasteriser (each pixel blends object colour and background by the shape's coverage of the
 * pixel, estimated on a supersampling grid), written as PNGs with a captions file, so the
 * full pipeline (CNN encoder included) can run on it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { regionCoverage } from "./geometry.js";
import type { Scene, SceneSplits, SplitName } from "./scenes.js";
import { BACKGROUND_RGB, COLOUR_RGB } from "./vocabulary.js";

export interface RenderOptions {
  /** Background colour (default BACKGROUND_RGB, mid grey). */
  background?: readonly [number, number, number];
  /** Samples per pixel side for anti-aliasing (default 4: 16 per pixel). */
  supersample?: number;
}

/** The scene as RGB bytes, canvas x canvas x 3, row-major. */
export function renderScene(scene: Scene, opts: RenderOptions = {}): Uint8Array {
  const bg = opts.background ?? BACKGROUND_RGB;
  const ss = opts.supersample ?? 4;
  const n = scene.canvas;
  const rgb = new Uint8Array(n * n * 3);
  for (let p = 0; p < n * n; p++) rgb.set(bg, p * 3);
  for (const o of scene.objects) {
    const col = COLOUR_RGB[o.colour];
    const x0 = Math.max(0, Math.floor(o.box.x0));
    const y0 = Math.max(0, Math.floor(o.box.y0));
    const x1 = Math.min(n, Math.ceil(o.box.x1));
    const y1 = Math.min(n, Math.ceil(o.box.y1));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const cov = regionCoverage(o.shape, o.box, { x0: x, y0: y, x1: x + 1, y1: y + 1 }, ss);
        if (cov === 0) continue;
        const j = (y * n + x) * 3;
        // Boxes never overlap (scenes.ts), so blending against what is there is blending
        // against the background.
        for (let c = 0; c < 3; c++) rgb[j + c] = Math.round(rgb[j + c] * (1 - cov) + col[c] * cov);
      }
    }
  }
  return rgb;
}

/** PNG bytes of the rendered scene. */
export async function renderScenePng(scene: Scene, opts: RenderOptions = {}): Promise<Buffer> {
  const rgb = renderScene(scene, opts);
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: scene.canvas, height: scene.canvas, channels: 3 } })
    .png()
    .toBuffer();
}

export interface ImageDatasetSummary {
  images: number;
  captions: number;
  /** Paths of the files written, relative to the dataset directory. */
  captionsFile: string;
  scenesFile: string;
}

/**
 * Writes `dir/images/<scene id>.png` for every scene, `dir/captions.jsonl` with one
 * `{"image", "caption", "split"}` line per caption (image path relative to dir), and
 * `dir/scenes.json` with every scene (objects with boxes in pixels, captions with their
 * noun/colour token positions). Scenes without a split (plain generateScenes output) are
 * written as "train".
 */
export async function writeImageDataset(dir: string, scenes: readonly Scene[] | SceneSplits, opts: RenderOptions = {}): Promise<ImageDatasetSummary> {
  const all: Array<Scene & { split: SplitName }> = Array.isArray(scenes)
    ? (scenes as readonly Scene[]).map((s) => ({ ...s, split: s.split ?? "train" }))
    : (["train", "val", "test"] as const).flatMap((name) => (scenes as SceneSplits)[name].map((s) => ({ ...s, split: name })));
  const ids = new Set<string>();
  for (const s of all) {
    if (ids.has(s.id)) throw new Error(`writeImageDataset: duplicate scene id "${s.id}" (give each split its own idPrefix)`);
    ids.add(s.id);
  }
  await mkdir(join(dir, "images"), { recursive: true });
  const lines: string[] = [];
  // A few encodes in flight at once keep sharp's thread pool busy without holding every
  // image in memory.
  const inFlight = 8;
  for (let start = 0; start < all.length; start += inFlight) {
    await Promise.all(
      all.slice(start, start + inFlight).map(async (s) => writeFile(join(dir, "images", `${s.id}.png`), await renderScenePng(s, opts))),
    );
  }
  for (const s of all) for (const c of s.captions) lines.push(JSON.stringify({ image: `images/${s.id}.png`, caption: c.text, split: s.split }));
  await writeFile(join(dir, "captions.jsonl"), lines.length ? lines.join("\n") + "\n" : "");
  await writeFile(join(dir, "scenes.json"), JSON.stringify(all, null, 1) + "\n");
  return { images: all.length, captions: lines.length, captionsFile: "captions.jsonl", scenesFile: "scenes.json" };
}
