// Feature variant: an object's codes must appear in the cells it covers and nowhere else, in
// proportion to the area covered; features are deterministic per scene.
import { test } from "node:test";
import assert from "node:assert/strict";
import { COLOURS, SHAPES, SyntheticFeatures, generateScenes, type Box, type Scene } from "../../src/data/synthetic/index.js";

const GRID = 14;
const L = GRID * GRID;
const CELL = 16;

function project(f: Float32Array, D: number, i: number, code: Float32Array): number {
  let s = 0;
  for (let k = 0; k < D; k++) s += f[i * D + k] * code[k];
  return s;
}

/** Fraction of cell i inside the box, computed here from the box alone. */
function cellInBox(i: number, b: Box): number {
  const cx0 = (i % GRID) * CELL;
  const cy0 = Math.floor(i / GRID) * CELL;
  const w = Math.min(cx0 + CELL, b.x1) - Math.max(cx0, b.x0);
  const h = Math.min(cy0 + CELL, b.y1) - Math.max(cy0, b.y0);
  return w > 0 && h > 0 ? (w * h) / (CELL * CELL) : 0;
}

const scenes = generateScenes(40, 77);

test("features are [L*D], deterministic per scene and independent of order; codeSeed changes them", () => {
  const fx = new SyntheticFeatures({ dim: 64 });
  const a = scenes.map((s) => fx.sceneFeatures(s));
  assert.equal(a[0].length, L * 64);
  const b = [...scenes].reverse().map((s) => new SyntheticFeatures({ dim: 64 }).sceneFeatures(s)).reverse();
  for (let k = 0; k < scenes.length; k++) assert.deepEqual(b[k], a[k]);
  const c = new SyntheticFeatures({ dim: 64, codeSeed: 1 }).sceneFeatures(scenes[0]);
  assert.notDeepEqual(c, a[0]);
  assert.equal(new SyntheticFeatures({ dim: 1024 }).sceneFeatures(scenes[0]).length, L * 1024);
  assert.throws(() => new SyntheticFeatures({ dim: 16 }), /dim/);
});

test("colour and shape codes are orthonormal, and orthogonal to every positional code", () => {
  const fx = new SyntheticFeatures({ dim: 64 });
  const codes = [...COLOURS.map((c) => fx.colourCode(c)), ...SHAPES.map((s) => fx.shapeCode(s))];
  const dot = (u: Float32Array, v: Float32Array) => u.reduce((acc, x, k) => acc + x * v[k], 0);
  codes.forEach((u, i) => codes.forEach((v, j) => assert.ok(Math.abs(dot(u, v) - (i === j ? 1 : 0)) < 1e-5, `codes ${i}, ${j}`)));
  for (let i = 0; i < L; i++) {
    const p = fx.positionCode(i);
    assert.ok(Math.abs(dot(p, p) - 1) < 1e-5);
    for (const u of codes) assert.ok(Math.abs(dot(p, u)) < 1e-5, `position ${i} leaks into an object code`);
  }
});

test("positional codes vary smoothly: neighbouring cells are more alike than distant ones", () => {
  const fx = new SyntheticFeatures({ dim: 64 });
  const cos = (i: number, j: number) => fx.positionCode(i).reduce((a, x, k) => a + x * fx.positionCode(j)[k], 0);
  let near = 0;
  let far = 0;
  let n = 0;
  for (let r = 0; r < GRID; r++) {
    for (let c = 0; c + 1 < GRID; c++) {
      near += cos(r * GRID + c, r * GRID + c + 1);
      far += cos(r * GRID + c, ((r + 7) % GRID) * GRID + ((c + 7) % GRID));
      n++;
    }
  }
  assert.ok(near / n > far / n + 0.3, `mean cos: neighbours ${near / n}, 7 cells away ${far / n}`);
});

// Noise 0.01 per element: a projection on a unit code then has sd 0.01, so 0.06 (6 sd) bounds
// every one of the ~10^4 projections below with negligible false-alarm probability, while a
// leak of even 1/16 of a cell's coverage would exceed it.
const QUIET = new SyntheticFeatures({ dim: 64, noiseStd: 0.01 });
const LEAK_BOUND = 0.06;

function otherCovering(s: Scene, k: number, i: number, same: (o: Scene["objects"][number]) => boolean): boolean {
  return s.objects.some((o, j) => j !== k && same(o) && cellInBox(i, o.box) > 0);
}

test("an object's colour and shape codes appear only in cells its box touches", () => {
  let checked = 0;
  for (const s of scenes) {
    const f = QUIET.sceneFeatures(s);
    s.objects.forEach((o, k) => {
      const cc = QUIET.colourCode(o.colour);
      const sc = QUIET.shapeCode(o.shape);
      for (let i = 0; i < L; i++) {
        if (cellInBox(i, o.box) > 0) continue;
        if (!otherCovering(s, k, i, (p) => p.colour === o.colour)) {
          assert.ok(Math.abs(project(f, 64, i, cc)) < LEAK_BOUND, `${s.id} cell ${i}: ${o.colour} code ${project(f, 64, i, cc)}`);
          checked++;
        }
        if (!otherCovering(s, k, i, (p) => p.shape === o.shape)) {
          assert.ok(Math.abs(project(f, 64, i, sc)) < LEAK_BOUND, `${s.id} cell ${i}: ${o.shape} code ${project(f, 64, i, sc)}`);
        }
      }
    });
  }
  assert.ok(checked > 5000);
});

// Shape area as a fraction of its (square) box, from plane geometry: circle π/4, triangle
// (apex at the top, full-width base) 1/2, plus sign with arms a third thick 5/9, square 1,
// and the five-pointed star with inner radius 0.45 of the outer one stretched to its box:
// 5·0.45·sin 36° / (2 cos 18° · (1 + cos 36°)) = 0.3844.
const AREA: Record<string, number> = {
  square: 1,
  circle: Math.PI / 4,
  triangle: 0.5,
  cross: 5 / 9,
  star: (5 * 0.45 * Math.sin(Math.PI / 5)) / (2 * Math.cos(Math.PI / 10) * (1 + Math.cos(Math.PI / 5))),
};

/** Whether pixel centre (x, y) is in the shape: written from the shape's description, by
 * different means than the generator (half-planes for the triangle, bars for the cross). */
function inShape(shape: string, b: Box, x: number, y: number): boolean | null {
  if (x < b.x0 || x >= b.x1 || y < b.y0 || y >= b.y1) return false;
  const side = b.x1 - b.x0;
  const cx = (b.x0 + b.x1) / 2;
  const cy = (b.y0 + b.y1) / 2;
  switch (shape) {
    case "square":
      return true;
    case "circle":
      return (x - cx) ** 2 + (y - cy) ** 2 <= (side / 2) ** 2;
    case "triangle": {
      // Left edge from (x0, y1) to the apex (cx, y0), right edge from the apex to (x1, y1):
      // inside when on the inner side of both (the base is the box's bottom edge).
      const left = (cx - b.x0) * (y - b.y1) - (b.y0 - b.y1) * (x - b.x0);
      const right = (b.x1 - cx) * (y - b.y0) - (b.y1 - b.y0) * (x - cx);
      return left >= 0 && right >= 0;
    }
    case "cross":
      return Math.abs(x - cx) <= side / 6 || Math.abs(y - cy) <= side / 6;
    default:
      return null; // the star: only its total area is checked
  }
}

function testCoverage(shape: string, b: Box, i: number): number | null {
  const cx0 = (i % GRID) * CELL;
  const cy0 = Math.floor(i / GRID) * CELL;
  let hits = 0;
  for (let y = 0; y < CELL; y++) {
    for (let x = 0; x < CELL; x++) {
      const v = inShape(shape, b, cx0 + x + 0.5, cy0 + y + 0.5);
      if (v === null) return null;
      if (v) hits++;
    }
  }
  return hits / (CELL * CELL);
}

test("code strength in a cell follows the area the object covers there", () => {
  const shapesSeen = new Set<string>();
  for (const s of scenes) {
    const f = QUIET.sceneFeatures(s);
    s.objects.forEach((o, k) => {
      if (s.objects.some((p, j) => j !== k && p.colour === o.colour)) return;
      shapesSeen.add(o.shape);
      const cc = QUIET.colourCode(o.colour);
      const proj = Array.from({ length: L }, (_, i) => project(f, 64, i, cc));
      const inBox = Array.from({ length: L }, (_, i) => cellInBox(i, o.box));
      // Total over the cells the box touches (elsewhere the test above bounds it): the
      // shape's area in cell units. Coverage is sampled 8x8 per cell, so allow 4% for the
      // sampling at the shape's edges, plus 0.3 for the noise: at most 36 cells of
      // projections with sd 0.01 sum to sd 0.06, and 0.3 is 5 sd.
      const side = (o.box.x1 - o.box.x0) / CELL;
      const total = proj.reduce((a, x, i) => a + (inBox[i] > 0 ? x : 0), 0);
      const want = AREA[o.shape] * side * side;
      assert.ok(Math.abs(total - want) < 0.04 * want + 0.3, `${s.id} ${o.colour} ${o.shape}: total ${total}, area ${want}`);
      // Per cell: the strength is the covered fraction of the cell. The generator samples
      // every other pixel (8x8 per cell), this test every pixel centre, so they may differ
      // by one 2-pixel sample row along each edge crossing the cell: 2 x 1/8; plus noise.
      for (let i = 0; i < L; i++) {
        const cov = testCoverage(o.shape, o.box, i);
        if (cov === null) break;
        assert.ok(Math.abs(proj[i] - cov) < 0.25 + LEAK_BOUND, `${s.id} ${o.shape} cell ${i}: strength ${proj[i]}, covered ${cov}`);
      }
    });
  }
  assert.deepEqual([...shapesSeen].sort(), [...SHAPES].sort());
});

test("noise has the configured size and is seeded by the scene", () => {
  const noisy = new SyntheticFeatures({ dim: 64, noiseStd: 0.1 });
  const clean = new SyntheticFeatures({ dim: 64, noiseStd: 0 });
  const s = scenes[3];
  const a = noisy.sceneFeatures(s);
  const b = clean.sceneFeatures(s);
  let ss = 0;
  for (let j = 0; j < a.length; j++) ss += (a[j] - b[j]) ** 2;
  const sd = Math.sqrt(ss / a.length);
  // 12544 samples: the sample sd is within 2% of 0.1 with overwhelming probability.
  assert.ok(Math.abs(sd - 0.1) < 0.003, `noise sd ${sd}`);
  // Two scenes get different noise.
  const other = { ...scenes[4], objects: s.objects };
  const c = noisy.sceneFeatures(other);
  assert.notDeepEqual(c, a);
});
