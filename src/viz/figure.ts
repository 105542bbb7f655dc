/**
 * Attention figures (paper Sec. 5.4, Figs. 2-5): the input image followed by one panel per
 * generated word, each panel the image overlaid with that word's attention map and labelled
 * with the word. Panels are composed as raw RGB here; the labels are drawn by labels.ts.
 */
import sharp from "sharp";
import { attentionSigma } from "./attention-sigma.js";
import { attentionHeatmap } from "./heatmap.js";
import { drawLabels, type Label } from "./labels.js";
import { drawCellMarker, maxOf, overlayAttention, type OverlayStyle } from "./overlay.js";

export { drawCellMarker, overlayAttention, type OverlayStyle };

/**
 * An image: a file path, encoded image bytes (PNG/JPEG... in a Buffer), or raw RGB bytes
 * size x size x 3 (any Uint8Array of exactly that length is taken as raw). Anything not
 * already size x size is resized so its shorter side fits and centre-cropped.
 */
export type ImageInput = string | Uint8Array;

export async function loadRgb(image: ImageInput, size = 224): Promise<Uint8Array> {
  if (typeof image !== "string" && image.length === size * size * 3) return image;
  const { data, info } = await sharp(image)
    .resize(size, size, { fit: "cover", position: "centre" })
    .toColourspace("srgb")
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) throw new Error(`loadRgb: decoded ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface MapOptions {
  grid?: number;
  /** Side of the (square) input crop and of each panel, in pixels (default 224). */
  size?: number;
  /** Gaussian σ in pixels at `size` scale (default: attentionSigma(size), the authors' σ scaled; 0: blocky cells). */
  sigma?: number;
  style?: OverlayStyle;
}

export interface SingleMapOptions extends MapOptions {
  image: ImageInput;
  alpha: ArrayLike<number>;
  /** Label the panel with this word (adds a label band above the image). */
  word?: string;
  beta?: number;
  /** Hard attention: the sampled cell, outlined on the panel. */
  location?: number;
}

function rawPng(rgb: Uint8Array, width: number, height: number): ReturnType<typeof sharp> {
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } });
}

function heatmapOf(alpha: ArrayLike<number>, o: Required<MapOptions>): Float32Array {
  if (alpha.length !== o.grid * o.grid) throw new Error(`attention map: alpha has ${alpha.length} values, expected grid² = ${o.grid * o.grid}`);
  return attentionHeatmap(alpha, o.grid, o.size, o.sigma);
}

function panelPixels(rgb: Uint8Array, heatmap: Float32Array, o: Required<MapOptions>, location?: number, scaleMax?: number): Uint8Array {
  const pixels = overlayAttention(rgb, heatmap, o.style, scaleMax);
  if (location !== undefined) drawCellMarker(pixels, o.size, o.grid, location);
  return pixels;
}

function mapDefaults(o: MapOptions): Required<MapOptions> {
  const size = o.size ?? 224;
  return { grid: o.grid ?? 14, size, sigma: o.sigma ?? attentionSigma(size), style: o.style ?? "darken" };
}

const OUTER = 10;
const GAP = 8;

function labelHeight(withBeta: boolean): number {
  return withBeta ? 48 : 32;
}

/** One word's map alone: the heatmap (size x size, sums to Σα) and a single-panel PNG. */
export async function renderSingleMap(opts: SingleMapOptions): Promise<{ heatmap: Float32Array; png: Buffer }> {
  const o = mapDefaults(opts);
  const rgb = await loadRgb(opts.image, o.size);
  const heatmap = heatmapOf(opts.alpha, o);
  const pixels = panelPixels(rgb, heatmap, o, opts.location);
  if (opts.word === undefined) return { heatmap, png: await rawPng(pixels, o.size, o.size).png().toBuffer() };
  const band = labelHeight(opts.beta !== undefined);
  const w = o.size + 2 * OUTER;
  const h = o.size + band + 2 * OUTER;
  const canvas = new Uint8Array(w * h * 3).fill(255);
  blit(canvas, w, pixels, o.size, OUTER, OUTER + band);
  const labels: Label[] = [{ text: opts.word, x: w / 2, y: OUTER + 22, size: 20, colour: "#1a1a1a", maxWidth: o.size }];
  if (opts.beta !== undefined) labels.push({ text: `β = ${opts.beta.toFixed(2)}`, x: w / 2, y: OUTER + 40, size: 13, colour: "#666666" });
  return { heatmap, png: await drawLabels(canvas, w, h, labels) };
}

function blit(dst: Uint8Array, dstWidth: number, src: Uint8Array, size: number, left: number, top: number): void {
  for (let y = 0; y < size; y++) dst.set(src.subarray(y * size * 3, (y + 1) * size * 3), ((top + y) * dstWidth + left) * 3);
}

export interface FigureOptions extends MapOptions {
  image: ImageInput;
  /** The generated words, in order (<end> included if wanted). */
  words: string[];
  /** α_t for each word (grid² values each). */
  alphas: ArrayLike<number>[];
  /** β_t (the gating scalar) for each word, printed under the word. */
  betas?: number[];
  /** Hard attention: the sampled cell for each word, outlined on its panel. */
  locations?: number[];
  /** Panels per row (default: all words and the image in rows of at most 6). */
  columns?: number;
  /** Put the plain image first, as the paper's figures do (default true). */
  showImage?: boolean;
  /** Scale each map to its own maximum ("word", default, as the paper) or all to the
   * figure's largest value ("figure"). */
  normalise?: "word" | "figure";
}

/**
 * The figure: [image,] then one panel per word, row by row, each labelled with its word
 * (and β_t when given). Returns PNG bytes.
 */
export async function renderAttentionFigure(opts: FigureOptions): Promise<Buffer> {
  const o = mapDefaults(opts);
  const { words, alphas } = opts;
  if (alphas.length !== words.length) throw new Error(`renderAttentionFigure: ${words.length} words but ${alphas.length} alphas`);
  if (opts.betas && opts.betas.length !== words.length) throw new Error(`renderAttentionFigure: ${words.length} words but ${opts.betas.length} betas`);
  if (opts.locations && opts.locations.length !== words.length) throw new Error(`renderAttentionFigure: ${words.length} words but ${opts.locations.length} locations`);
  const rgb = await loadRgb(opts.image, o.size);
  const showImage = opts.showImage ?? true;
  const panels: Array<{ pixels: Uint8Array; word: string; beta?: number; muted: boolean }> = [];
  if (showImage) panels.push({ pixels: rgb, word: "(image)", muted: true });
  const heatmaps = alphas.map((a) => heatmapOf(a, o));
  // "figure": one scale for all panels, so a diffuse map looks diffuse next to a focused one
  // instead of having its small ripples stretched to the full range.
  const scaleMax = opts.normalise === "figure" ? Math.max(0, ...heatmaps.map(maxOf)) : undefined;
  words.forEach((word, t) => panels.push({ pixels: panelPixels(rgb, heatmaps[t], o, opts.locations?.[t], scaleMax), word, beta: opts.betas?.[t], muted: false }));
  if (panels.length === 0) throw new Error("renderAttentionFigure: nothing to draw (no words and showImage false)");
  const columns = Math.max(1, Math.min(opts.columns ?? 6, panels.length));
  const rows = Math.ceil(panels.length / columns);
  const band = labelHeight(opts.betas !== undefined);
  const cellW = o.size + GAP;
  const cellH = o.size + band + GAP;
  const w = 2 * OUTER + columns * cellW - GAP;
  const h = 2 * OUTER + rows * cellH - GAP;
  const canvas = new Uint8Array(w * h * 3).fill(255);
  const labels: Label[] = [];
  panels.forEach((p, k) => {
    const left = OUTER + (k % columns) * cellW;
    const top = OUTER + Math.floor(k / columns) * cellH;
    blit(canvas, w, p.pixels, o.size, left, top + band);
    labels.push({ text: p.word, x: left + o.size / 2, y: top + 22, size: 20, colour: p.muted ? "#888888" : "#1a1a1a", maxWidth: o.size });
    if (p.beta !== undefined) labels.push({ text: `β = ${p.beta.toFixed(2)}`, x: left + o.size / 2, y: top + 40, size: 13, colour: "#666666" });
  });
  return drawLabels(canvas, w, h, labels);
}
