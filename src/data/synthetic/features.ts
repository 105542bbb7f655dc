/**
 * Feature variant of the generated task: annotation vectors synthesised directly on the
 * encoder's grid (14x14, L = 196), without pixels or a CNN. For cell i,
 *
 *   a_i = positionScale * p_i  +  objectScale * Σ_objects cov(o, i) * (c_colour(o) + s_shape(o))  +  ε_i
 *
 * - c_* and s_* are fixed codes, one per colour and per shape, orthonormal to each other;
 * - cov(o, i) is the fraction of cell i that the object's shape covers (geometry.ts), so an
 *   object's information sits only in the cells it covers, which is what makes attention
 *   localisation measurable;
 * - p_i is a fixed positional code of unit norm (real CNN features carry position too,
 *   through padding and receptive fields): a random projection of a 2-D sinusoidal encoding
 *   of the cell centre, so nearby cells get similar codes and "left of" is learnable. It is
 *   kept orthogonal to every object code, so projecting a feature on an object code reads
 *   the coverage of objects with that attribute plus noise only;
 * - ε_i is Gaussian noise N(0, noiseStd²) per element, seeded by the scene's own seed.
 * The codes depend only on codeSeed and dim, never on the scenes.
 */
import { SeededRandom, hash32 } from "../../util/rng.js";
import { cellCoverage } from "./geometry.js";
import type { Scene } from "./scenes.js";
import { COLOURS, SHAPES, type Colour, type Shape } from "./vocabulary.js";

export interface FeatureOptions {
  /** Cells per side (default 14, L = grid²). */
  grid?: number;
  /** D, the annotation vector size (default 64; at least 12 + 16 = 28 for all codes to fit). */
  dim?: number;
  /** Seed of the fixed codes (default 20150210). */
  codeSeed?: number;
  /** Weight of the object codes per unit of coverage (default 1). */
  objectScale?: number;
  /** Norm of the positional code of every cell (default 0.5). */
  positionScale?: number;
  /** Standard deviation of the per-element noise (default 0.1). */
  noiseStd?: number;
  /** Sample points per cell side when measuring coverage (default 8: 64 per cell). */
  coverageSamples?: number;
}

/** Frequencies of the sinusoidal position encoding (per axis: sin and cos of each). */
const POSITION_FREQUENCIES = [1, 2, 3, 4];
const POSITION_FEATURES = 4 * POSITION_FREQUENCIES.length;

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}

/** Removes from v its components along the (orthonormal) basis vectors; returns v. */
function orthogonalise(v: Float32Array, basis: readonly Float32Array[]): Float32Array {
  for (const u of basis) {
    const d = dot(v, u);
    for (let k = 0; k < v.length; k++) v[k] -= d * u[k];
  }
  return v;
}

function normalise(v: Float32Array, norm = 1): Float32Array {
  const n = Math.sqrt(dot(v, v));
  for (let k = 0; k < v.length; k++) v[k] *= norm / n;
  return v;
}

export class SyntheticFeatures {
  readonly grid: number;
  readonly dim: number;
  readonly numLocations: number;
  readonly objectScale: number;
  readonly positionScale: number;
  readonly noiseStd: number;
  private readonly samples: number;
  private readonly codeSeed: number;
  private readonly colourCodes = new Map<Colour, Float32Array>();
  private readonly shapeCodes = new Map<Shape, Float32Array>();
  private readonly positionCodes: Float32Array[] = [];

  constructor(opts: FeatureOptions = {}) {
    this.grid = opts.grid ?? 14;
    this.dim = opts.dim ?? 64;
    this.codeSeed = opts.codeSeed ?? 20150210;
    this.objectScale = opts.objectScale ?? 1;
    this.positionScale = opts.positionScale ?? 0.5;
    this.noiseStd = opts.noiseStd ?? 0.1;
    this.samples = opts.coverageSamples ?? 8;
    this.numLocations = this.grid * this.grid;
    if (!Number.isInteger(this.grid) || this.grid < 1) throw new Error(`SyntheticFeatures: grid must be a positive integer, got ${this.grid}`);
    const need = COLOURS.length + SHAPES.length + POSITION_FEATURES;
    if (!Number.isInteger(this.dim) || this.dim < need) throw new Error(`SyntheticFeatures: dim must be an integer >= ${need} (object codes + position subspace), got ${this.dim}`);
    for (const [k, v] of [["objectScale", this.objectScale], ["positionScale", this.positionScale], ["noiseStd", this.noiseStd]] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`SyntheticFeatures: ${k} must be a finite number >= 0, got ${v}`);
    }

    const rng = new SeededRandom(this.codeSeed);
    const gaussian = () => Float32Array.from({ length: this.dim }, () => rng.normal());
    // Gram-Schmidt over random directions: orthonormal colour and shape codes.
    const basis: Float32Array[] = [];
    const nextCode = () => {
      const v = normalise(orthogonalise(gaussian(), basis));
      basis.push(v);
      return v;
    };
    for (const c of COLOURS) this.colourCodes.set(c, nextCode());
    for (const s of SHAPES) this.shapeCodes.set(s, nextCode());
    // Position: a fixed random D x F projection of sin/cos of the cell centre, with the
    // object subspace removed from each column so positions never read as objects.
    const projection = Array.from({ length: POSITION_FEATURES }, () => orthogonalise(gaussian(), basis));
    for (let i = 0; i < this.numLocations; i++) {
      const x = ((i % this.grid) + 0.5) / this.grid;
      const y = (Math.floor(i / this.grid) + 0.5) / this.grid;
      const f: number[] = [];
      for (const w of POSITION_FREQUENCIES) f.push(Math.sin(Math.PI * w * x), Math.cos(Math.PI * w * x), Math.sin(Math.PI * w * y), Math.cos(Math.PI * w * y));
      const p = new Float32Array(this.dim);
      for (let j = 0; j < POSITION_FEATURES; j++) for (let k = 0; k < this.dim; k++) p[k] += f[j] * projection[j][k];
      this.positionCodes.push(normalise(p));
    }
  }

  /** Unit-norm code of a colour (a copy). */
  colourCode(c: Colour): Float32Array {
    return Float32Array.from(this.colourCodes.get(c)!);
  }
  /** Unit-norm code of a shape (a copy). */
  shapeCode(s: Shape): Float32Array {
    return Float32Array.from(this.shapeCodes.get(s)!);
  }
  /** Unit-norm positional code of cell i (a copy; features carry it times positionScale). */
  positionCode(i: number): Float32Array {
    return Float32Array.from(this.positionCodes[i]);
  }

  /** Annotation vectors of a scene: Float32Array [L * D], row-major (cell i at i*D). */
  sceneFeatures(scene: Scene): Float32Array {
    const { dim: D, numLocations: L } = this;
    const out = new Float32Array(L * D);
    for (let i = 0; i < L; i++) {
      const p = this.positionCodes[i];
      for (let k = 0; k < D; k++) out[i * D + k] = this.positionScale * p[k];
    }
    for (const o of scene.objects) {
      const cov = cellCoverage(o.shape, o.box, this.grid, scene.canvas, this.samples);
      const c = this.colourCodes.get(o.colour)!;
      const s = this.shapeCodes.get(o.shape)!;
      for (let i = 0; i < L; i++) {
        const w = cov[i] * this.objectScale;
        if (w === 0) continue;
        for (let k = 0; k < D; k++) out[i * D + k] += w * (c[k] + s[k]);
      }
    }
    if (this.noiseStd > 0) {
      // The scene's own seed mixed with the code seed: the same scene always gets the same
      // noise, whatever other scenes are featurised and in what order.
      const rng = new SeededRandom(hash32((scene.seed ^ hash32(this.codeSeed)) >>> 0));
      for (let j = 0; j < out.length; j++) out[j] += this.noiseStd * rng.normal();
    }
    return out;
  }
}

/** Annotation vectors of one scene with the given options (builds the codes each call;
 * keep a SyntheticFeatures for many scenes). */
export function sceneFeatures(scene: Scene, opts: FeatureOptions = {}): Float32Array {
  return new SyntheticFeatures(opts).sceneFeatures(scene);
}
