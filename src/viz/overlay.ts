/**
 * Drawing an attention map over an image, on raw RGB bytes: no Node dependency, so the CLI's
 * figures (figure.ts) and the web page's canvases draw maps the same way.
 */

/** How a map is drawn over the image. */
export type OverlayStyle = "darken" | "colormap";

// A dark-to-bright colormap (black-violet-red-orange-pale yellow), perceptually ordered by
// brightness so it still reads in greyscale print.
const COLORMAP: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 0, 30],
  [0.3, 110, 20, 130],
  [0.55, 215, 50, 60],
  [0.8, 250, 155, 30],
  [1, 255, 245, 175],
];

function colormap(m: number, out: number[]): void {
  let k = 1;
  while (k < COLORMAP.length - 1 && COLORMAP[k][0] < m) k++;
  const [a0, ...c0] = COLORMAP[k - 1];
  const [a1, ...c1] = COLORMAP[k];
  const t = Math.min(1, Math.max(0, (m - a0) / (a1 - a0)));
  for (let c = 0; c < 3; c++) out[c] = c0[c] + t * (c1[c] - c0[c]);
}

/** Largest value of a map (0 for an all-zero or empty map). */
export function maxOf(a: Float32Array): number {
  let max = 0;
  for (let p = 0; p < a.length; p++) if (a[p] > max) max = a[p];
  return max;
}

/**
 * The image with a map drawn over it, the map scaled to its own maximum (each word's map
 * fills the range, as in the paper's figures) or to `scaleMax` when given. "darken": the image dimmed where attention is
 * low, down to 18% of its brightness, with a light white haze where it is high;
 * "colormap": a blend of the image and a colour-coded map.
 */
export function overlayAttention(rgb: Uint8Array, heat: Float32Array, style: OverlayStyle = "darken", scaleMax?: number): Uint8Array {
  if (rgb.length !== heat.length * 3) throw new Error(`overlayAttention: image has ${rgb.length / 3} pixels, map has ${heat.length}`);
  const max = scaleMax ?? maxOf(heat);
  const inv = max > 0 ? 1 / max : 0;
  const out = new Uint8Array(rgb.length);
  const cm = [0, 0, 0];
  for (let p = 0; p < heat.length; p++) {
    const m = Math.min(1, heat[p] * inv);
    if (style === "darken") {
      // Dim to 18% where the map is 0; the m² haze brightens only the attended core.
      // Uint8Array would wrap values above 255, hence the clamp.
      const gain = 0.18 + 0.82 * m;
      const haze = 70 * m * m;
      for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.min(255, Math.round(rgb[p * 3 + c] * gain + haze));
    } else {
      colormap(m, cm);
      for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(0.45 * rgb[p * 3 + c] + 0.55 * cm[c]);
    }
  }
  return out;
}

/** Outlines grid cell `cell` (the sampled location of hard attention) in place. */
export function drawCellMarker(rgb: Uint8Array, size: number, grid: number, cell: number, colour: readonly [number, number, number] = [0, 230, 255], thickness = 2): void {
  if (!Number.isInteger(cell) || cell < 0 || cell >= grid * grid) throw new Error(`drawCellMarker: cell must be an integer in [0, ${grid * grid}), got ${cell}`);
  const s = size / grid;
  const x0 = Math.round((cell % grid) * s);
  const y0 = Math.round(Math.floor(cell / grid) * s);
  const x1 = Math.round(((cell % grid) + 1) * s) - 1;
  const y1 = Math.round((Math.floor(cell / grid) + 1) * s) - 1;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const edge = x - x0 < thickness || x1 - x < thickness || y - y0 < thickness || y1 - y < thickness;
      if (edge) rgb.set(colour, (y * size + x) * 3);
    }
  }
}
