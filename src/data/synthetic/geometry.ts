/**
 * Shape geometry shared by the rasteriser (render.ts) and the feature synthesiser
 * (features.ts), so that the pixels and the annotation vectors describe the same object.
 *
 * Coordinates are continuous pixels of the canvas (224 by default): pixel (px, py) covers
 * [px, px+1) x [py, py+1), and a box covers [x0, x1) x [y0, y1). A shape fills its box
 * tightly: its extent touches all four sides.
 */
import type { Shape } from "./vocabulary.js";

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export function boxArea(b: Box): number {
  return Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
}

export function boxCentre(b: Box): { x: number; y: number } {
  return { x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2 };
}

/** Area of the intersection of two boxes. */
export function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0;
}

/** The box of grid cell i (row-major, i = row * grid + col) on a canvas of `canvas` pixels. */
export function cellBox(i: number, grid: number, canvas: number): Box {
  const s = canvas / grid;
  const r = Math.floor(i / grid);
  const c = i % grid;
  return { x0: c * s, y0: r * s, x1: (c + 1) * s, y1: (r + 1) * s };
}

// Five-pointed star, outer radius 1, inner radius 0.45 (a little fuller than the regular
// 0.382 so that small stars still cover a sizeable part of a 16-pixel cell), first point up,
// then stretched to fill the unit square so the box is tight.
const STAR_UNIT: ReadonlyArray<readonly [number, number]> = (() => {
  const raw: Array<[number, number]> = [];
  for (let k = 0; k < 10; k++) {
    const r = k % 2 === 0 ? 1 : 0.45;
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    raw.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  const xs = raw.map((p) => p[0]);
  const ys = raw.map((p) => p[1]);
  const [xmin, xmax, ymin, ymax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return raw.map(([x, y]) => [(x - xmin) / (xmax - xmin), (y - ymin) / (ymax - ymin)] as const);
})();

function insidePolygon(poly: ReadonlyArray<readonly [number, number]>, u: number, v: number): boolean {
  // Even-odd ray casting along +u; the star is not convex.
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [ui, vi] = poly[i];
    const [uj, vj] = poly[j];
    if (vi > v !== vj > v && u < ((uj - ui) * (v - vi)) / (vj - vi) + ui) inside = !inside;
  }
  return inside;
}

/**
 * Whether the point (u, v) of the unit square (0..1 across the box, v downwards) lies in the
 * shape. The cross is a plus sign with arms one third of the box thick.
 */
export function unitShapeContains(shape: Shape, u: number, v: number): boolean {
  if (u < 0 || u >= 1 || v < 0 || v >= 1) return false;
  switch (shape) {
    case "square":
      return true;
    case "circle":
      return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25;
    case "triangle":
      // Apex at the top centre, base along the bottom edge.
      return Math.abs(u - 0.5) <= v / 2;
    case "cross":
      return Math.abs(u - 0.5) <= 1 / 6 || Math.abs(v - 0.5) <= 1 / 6;
    case "star":
      return insidePolygon(STAR_UNIT, u, v);
  }
}

/** Whether canvas point (x, y) lies in `shape` drawn in `box`. */
export function shapeContains(shape: Shape, box: Box, x: number, y: number): boolean {
  return unitShapeContains(shape, (x - box.x0) / (box.x1 - box.x0), (y - box.y0) / (box.y1 - box.y0));
}

/**
 * Fraction of the region `r` covered by the shape, estimated on an s x s grid of sample
 * points at the centres of equal sub-rectangles (exact for the square, error O(1/s) at edges
 * for the others). Regions outside the box are 0 without sampling.
 */
export function regionCoverage(shape: Shape, box: Box, r: Box, s = 8): number {
  if (intersectionArea(box, r) === 0) return 0;
  const w = (r.x1 - r.x0) / s;
  const h = (r.y1 - r.y0) / s;
  let hits = 0;
  for (let j = 0; j < s; j++) {
    const y = r.y0 + (j + 0.5) * h;
    for (let i = 0; i < s; i++) if (shapeContains(shape, box, r.x0 + (i + 0.5) * w, y)) hits++;
  }
  return hits / (s * s);
}

/**
 * Fraction of each grid cell covered by the shape: Float32Array of grid*grid values,
 * row-major like the annotation vectors (i = row * grid + col).
 */
export function cellCoverage(shape: Shape, box: Box, grid = 14, canvas = 224, samples = 8): Float32Array {
  const out = new Float32Array(grid * grid);
  const s = canvas / grid;
  const c0 = Math.max(0, Math.floor(box.x0 / s));
  const c1 = Math.min(grid - 1, Math.floor((box.x1 - 1e-9) / s));
  const r0 = Math.max(0, Math.floor(box.y0 / s));
  const r1 = Math.min(grid - 1, Math.floor((box.y1 - 1e-9) / s));
  for (let r = r0; r <= r1; r++) {
    for (let c = c0; c <= c1; c++) {
      const i = r * grid + c;
      out[i] = regionCoverage(shape, box, cellBox(i, grid, canvas), samples);
    }
  }
  return out;
}
