/**
 * Text labels on figures. The normal path is an SVG of <text> elements composited by sharp
 * (librsvg + fontconfig). A machine without any font makes librsvg draw nothing, silently, so
 * the first use probes whether glyphs really come out and otherwise draws labels with the
 * small built-in bitmap font below (lower case, digits, a little punctuation).
 */
import sharp from "sharp";

export interface Label {
  text: string;
  /** Horizontal centre of the text. */
  x: number;
  /** Baseline. */
  y: number;
  /** Font size in pixels. */
  size: number;
  /** "#rrggbb". */
  colour: string;
  /** Shrink the font so the text fits this width (pixels). */
  maxWidth?: number;
}

// DejaVu Sans averages about 0.62 em per lower-case character; a little generous so that
// fitted labels do not touch the neighbouring panel.
const EM_PER_CHAR = 0.64;

function fittedSize(l: Label): number {
  const n = [...l.text].length;
  if (l.maxWidth === undefined || n === 0) return l.size;
  return Math.max(6, Math.min(l.size, Math.floor(l.maxWidth / (EM_PER_CHAR * n))));
}

export type LabelBackend = "svg" | "bitmap";

const FONT_FAMILY = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]!);
}

function labelsSvg(width: number, height: number, labels: readonly Label[]): string {
  const texts = labels
    .map((l) => `<text x="${l.x}" y="${l.y}" font-size="${fittedSize(l)}" fill="${l.colour}" text-anchor="middle">${escapeXml(l.text)}</text>`)
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT_FAMILY}">${texts}</svg>`;
}

let forced: LabelBackend | null = null;
let probed: Promise<LabelBackend> | null = null;

/** Force a backend (tests, or a machine where the probe guesses wrong); null: probe. */
export function setLabelBackend(backend: LabelBackend | null): void {
  forced = backend;
}

/** "svg" when sharp renders text glyphs on this machine, else "bitmap" (probed once). */
export function labelBackend(): Promise<LabelBackend> {
  if (forced) return Promise.resolve(forced);
  probed ??= (async () => {
    try {
      const { data } = await sharp(Buffer.from(labelsSvg(64, 32, [{ text: "Hg", x: 32, y: 24, size: 22, colour: "#000000" }])))
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      let ink = 0;
      for (let p = 3; p < data.length; p += 4) if (data[p] > 128) ink++;
      // Two 22-px glyphs cover well over 40 pixels; a missing font gives 0.
      return ink > 40 ? "svg" : "bitmap";
    } catch {
      return "bitmap";
    }
  })();
  return probed;
}

/**
 * Draws the labels on an RGB canvas (width x height x 3) and returns PNG bytes. The canvas
 * is modified when the bitmap font is used.
 */
export async function drawLabels(rgb: Uint8Array, width: number, height: number, labels: readonly Label[]): Promise<Buffer> {
  const raw = () => sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } });
  if ((await labelBackend()) === "svg") {
    return raw()
      .composite([{ input: Buffer.from(labelsSvg(width, height, labels)), top: 0, left: 0 }])
      .png()
      .toBuffer();
  }
  for (const l of labels) drawBitmapText(rgb, width, height, l);
  return raw().png().toBuffer();
}

// 5x9 glyphs: rows 0-1 ascenders, 2-6 x-height, 6 the baseline row, 7-8 descenders.
// Hand-drawn for this project. Upper case is drawn as lower case; β as "b".
const GLYPHS: Record<string, string[]> = {
  a: [".....", ".....", ".###.", "....#", ".####", "#...#", ".####"],
  b: ["#....", "#....", "####.", "#...#", "#...#", "#...#", "####."],
  c: [".....", ".....", ".####", "#....", "#....", "#....", ".####"],
  d: ["....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"],
  e: [".....", ".....", ".###.", "#...#", "#####", "#....", ".###."],
  f: ["..##.", ".#...", "####.", ".#...", ".#...", ".#...", ".#..."],
  g: [".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."],
  h: ["#....", "#....", "####.", "#...#", "#...#", "#...#", "#...#"],
  i: ["..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."],
  j: ["...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."],
  k: ["#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."],
  l: [".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
  m: [".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"],
  n: [".....", ".....", "####.", "#...#", "#...#", "#...#", "#...#"],
  o: [".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."],
  p: [".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."],
  q: [".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"],
  r: [".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."],
  s: [".....", ".....", ".####", "#....", ".###.", "....#", "####."],
  t: [".#...", ".#...", "####.", ".#...", ".#...", ".#..#", "..##."],
  u: [".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####"],
  v: [".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."],
  w: [".....", ".....", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."],
  x: [".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
  y: [".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."],
  z: [".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"],
  "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
  "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
  "2": [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
  "3": ["####.", "....#", "....#", ".###.", "....#", "....#", "####."],
  "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
  "5": ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
  "6": [".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."],
  "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
  "8": [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
  "9": [".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."],
  "<": [".....", "...#.", "..#..", ".#...", "..#..", "...#.", "....."],
  ">": [".....", ".#...", "..#..", "...#.", "..#..", ".#...", "....."],
  "=": [".....", ".....", "#####", ".....", "#####", ".....", "....."],
  ".": [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
  ",": [".....", ".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."],
  ":": [".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."],
  "'": ["..#..", "..#..", ".#...", ".....", ".....", ".....", "....."],
  "-": [".....", ".....", ".....", ".###.", ".....", ".....", "....."],
  _: [".....", ".....", ".....", ".....", ".....", ".....", "#####"],
  "(": ["...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."],
  ")": [".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."],
  "/": ["....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."],
  "?": [".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."],
  "!": ["..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."],
  " ": [],
};
// Characters outside the font are drawn as a hollow box, so a missing glyph is visible.
const UNKNOWN = ["#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####"];

function glyphFor(ch: string): string[] {
  if (ch === "β") return GLYPHS.b;
  return GLYPHS[ch.toLowerCase()] ?? UNKNOWN;
}

/** Draws one label with the bitmap font, scaled to about the requested size. */
export function drawBitmapText(rgb: Uint8Array, width: number, height: number, l: Label): void {
  const chars = [...l.text];
  let scale = Math.max(1, Math.round(l.size / 9));
  if (l.maxWidth !== undefined) while (scale > 1 && chars.length * 6 * scale - scale > l.maxWidth) scale--;
  const advance = 6 * scale;
  const textWidth = chars.length * advance - scale;
  const colour = [1, 3, 5].map((k) => parseInt(l.colour.slice(k, k + 2), 16));
  let left = Math.round(l.x - textWidth / 2);
  const top = Math.round(l.y - 7 * scale);
  for (const ch of chars) {
    glyphFor(ch).forEach((row, r) => {
      for (let c = 0; c < row.length; c++) {
        if (row[c] !== "#") continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const x = left + c * scale + dx;
            const y = top + r * scale + dy;
            if (x >= 0 && x < width && y >= 0 && y < height) rgb.set(colour, (y * width + x) * 3);
          }
        }
      }
    });
    left += advance;
  }
}
