/**
 * A parameter-free encoder for rendered scenes of the generated shapes task: it parses the
 * image back into its objects (colour, shape, square box) and returns the annotation vectors
 * SyntheticFeatures synthesises for those objects (without noise), so a model trained on
 * synthesised features (`sat demo`) captions PNGs of scenes.
 *
 * Browser-safe on purpose (`sat serve` and the web page both run it): no node:*, sharp or
 * tfjs here or in what it imports (encoder.ts is imported for its types only).
 *
 * Parsing inverts render.ts. Every pixel there is round(bg·(1 − cov) + colour·cov), with cov
 * the shape's coverage of the pixel on a 4x4 sample grid, and boxes with integer corners
 * at least 8 px apart. So:
 *   1. a pixel is an object pixel when it is off the background and lies (within rounding)
 *      on the segment from the background to some palette colour;
 *   2. object pixels within 2 px of each other form one object (objects are >= 8 px apart);
 *   3. the object's colour is the palette colour whose blends explain its pixels best, and
 *      each pixel's coverage is its position along that segment;
 *   4. shape and box are the (shape, integer square box) whose rendered coverage, computed
 *      exactly as render.ts does, is closest in squared error to the observed coverage,
 *      searched over boxes that contain every observed pixel and are at most 2 px wider
 *      than the observed extent (a star's tip can leave the box's outermost pixel row empty).
 * Anything else (a photo, noise) parses into whatever blends it happens to contain, possibly
 * nothing: the encoder never throws on pixels, the model captions such images badly.
 */
import type { EncoderIdentity, Normalisation } from "./encoder.js";
import { IdentifiedEncoder } from "./identified.js";
import type { PreprocessOptions } from "../data/images.js";
import type { SceneObject } from "../data/synthetic/captions.js";
import { SyntheticFeatures, type FeatureOptions } from "../data/synthetic/features.js";
import { regionCoverage, type Box } from "../data/synthetic/geometry.js";
import type { Scene } from "../data/synthetic/scenes.js";
import { BACKGROUND_RGB, COLOURS, COLOUR_RGB, SHAPES, type Shape } from "../data/synthetic/vocabulary.js";

/** Side of the scenes the encoder reads (scenes.ts's default canvas). */
export const SHAPES_INPUT_SIZE = 224;

/** Samples per pixel side with which render.ts measures coverage (its default). */
const RENDER_SUPERSAMPLE = 4;

export interface ParseOptions {
  /**
   * Largest distance (RGB units) from the background still counted as background. Rendered
   * background is exact; the faintest edge pixel (1/16 coverage of purple, the colour closest
   * to the grey) lies 6.1 away, so 2.5 separates them with room for rounding.
   */
  backgroundTolerance?: number;
  /**
   * Largest distance from the nearest background-to-colour segment for a pixel to count as
   * a blend. Rounding to bytes moves a rendered pixel at most √3·0.5 ≈ 0.87 off its segment.
   */
  blendTolerance?: number;
  /** Objects whose summed coverage is below this many pixels are dropped as specks (default 4;
   * with the generator's default sizes the smallest object, a 36 px star, covers hundreds). */
  minArea?: number;
}

export interface ParsedObject extends SceneObject {
  /** Summed observed coverage of the object's pixels (its area in pixels). */
  area: number;
  /** Root-mean-square difference between observed and fitted coverage over the box. */
  fitError: number;
}

// Background and palette offsets copied into plain locals: the per-pixel loops below read
// them millions of times per image.
const [BG_R, BG_G, BG_B] = BACKGROUND_RGB;
const PALETTE = COLOURS.map((colour) => {
  const d = [COLOUR_RGB[colour][0] - BG_R, COLOUR_RGB[colour][1] - BG_G, COLOUR_RGB[colour][2] - BG_B] as const;
  return { colour, d, norm2: d[0] * d[0] + d[1] * d[1] + d[2] * d[2] };
});

/** Coverage of pixel (r, g, b) along the background→colour segment of palette entry k, clamped to [0, 1]. */
function blendCoverage(r: number, g: number, b: number, k: number): number {
  const { d, norm2 } = PALETTE[k];
  return Math.min(1, Math.max(0, ((r - BG_R) * d[0] + (g - BG_G) * d[1] + (b - BG_B) * d[2]) / norm2));
}

/** Squared distance of pixel (r, g, b) from the background→colour segment of palette entry k. */
function blendResidual2(r: number, g: number, b: number, k: number): number {
  const { d } = PALETTE[k];
  const cov = blendCoverage(r, g, b, k);
  return (r - BG_R - cov * d[0]) ** 2 + (g - BG_G - cov * d[1]) ** 2 + (b - BG_B - cov * d[2]) ** 2;
}

/**
 * Coverage of every pixel of an integer-cornered box of side `size` by `shape`, row-major
 * size x size, on a samples x samples grid per pixel. render.ts samples pixel (x, y) at
 * x + (i + 0.5)/4; with integer corners the offsets from the box corner are the same for
 * every position of the box, so one pattern per (shape, size) serves all positions, and with
 * 4 samples it equals the renderer's coverage bit for bit.
 */
const patternCache = new Map<string, Float32Array>();
let patternCacheFloats = 0;
/** Bound on the cache (floats, 32 MB): the patterns of the generator's default sizes take
 * ~1.7M floats; odd sizes from non-scene images could otherwise pile up. */
const PATTERN_CACHE_LIMIT = 8_000_000;

function coveragePattern(shape: Shape, size: number, samples: number): Float32Array {
  const key = `${shape}:${size}:${samples}`;
  let p = patternCache.get(key);
  if (p) return p;
  p = new Float32Array(size * size);
  const box: Box = { x0: 0, y0: 0, x1: size, y1: size };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) p[y * size + x] = regionCoverage(shape, box, { x0: x, y0: y, x1: x + 1, y1: y + 1 }, samples);
  }
  if (patternCacheFloats + p.length > PATTERN_CACHE_LIMIT) {
    patternCache.clear();
    patternCacheFloats = 0;
  }
  patternCache.set(key, p);
  patternCacheFloats += p.length;
  return p;
}

/** Start positions to try along one axis for a box of side `size` holding the extent [lo, hi). */
function offsets(lo: number, hi: number, size: number): number[] {
  const first = hi - size;
  const n = lo - first + 1;
  // Real objects leave at most 2 px of slack per axis (3 positions). A long thin non-scene
  // region can leave hundreds: try the centred position and its neighbours only.
  if (n <= 5) return Array.from({ length: n }, (_, k) => first + k);
  const mid = first + Math.floor(n / 2);
  return [mid - 2, mid - 1, mid, mid + 1, mid + 2];
}

/**
 * Recovers the objects of a rendered scene. `rgb` is size x size x 3 bytes, row-major.
 * Objects come in raster order of their first pixel.
 */
export function parseScene(rgb: Uint8Array, size: number, opts: ParseOptions = {}): ParsedObject[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`parseScene: size must be a positive integer, got ${size}`);
  if (rgb.length !== size * size * 3) throw new RangeError(`parseScene: image has ${rgb.length} bytes, expected ${size}x${size}x3 = ${size * size * 3}`);
  const bgTol2 = (opts.backgroundTolerance ?? 2.5) ** 2;
  const blendTol2 = (opts.blendTolerance ?? 3) ** 2;
  const minArea = opts.minArea ?? 4;
  const n = size * size;

  // 1. Object pixels.
  const isObject = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const r = rgb[3 * p], g = rgb[3 * p + 1], b = rgb[3 * p + 2];
    if ((r - BG_R) ** 2 + (g - BG_G) ** 2 + (b - BG_B) ** 2 <= bgTol2) continue;
    for (let k = 0; k < PALETTE.length; k++) {
      if (blendResidual2(r, g, b, k) <= blendTol2) {
        isObject[p] = 1;
        break;
      }
    }
  }

  // 2. Groups: object pixels within Chebyshev distance 2 are connected (a shape's anti-aliased
  // rim can have one-pixel gaps at sharp tips; distinct objects are >= 8 px apart).
  const label = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const groups: number[][] = [];
  for (let start = 0; start < n; start++) {
    if (!isObject[start] || label[start] >= 0) continue;
    const id = groups.length;
    const members: number[] = [];
    let head = 0, tail = 0;
    queue[tail++] = start;
    label[start] = id;
    while (head < tail) {
      const p = queue[head++];
      members.push(p);
      const px = p % size, py = (p - px) / size;
      for (let y = Math.max(0, py - 2); y <= Math.min(size - 1, py + 2); y++) {
        for (let x = Math.max(0, px - 2); x <= Math.min(size - 1, px + 2); x++) {
          const q = y * size + x;
          if (isObject[q] && label[q] < 0) {
            label[q] = id;
            queue[tail++] = q;
          }
        }
      }
    }
    groups.push(members);
  }

  // 3-4. Colour, coverage, then shape and box of each group.
  const observed = new Float32Array(n); // coverage of the group being fitted, 0 elsewhere
  const out: ParsedObject[] = [];
  for (const members of groups) {
    let bestColour = 0;
    let bestRes = Infinity;
    for (let k = 0; k < PALETTE.length; k++) {
      let res = 0;
      for (const p of members) res += blendResidual2(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], k);
      if (res < bestRes) {
        bestRes = res;
        bestColour = k;
      }
    }
    let area = 0;
    let bx0 = size, by0 = size, bx1 = 0, by1 = 0;
    for (const p of members) {
      const cov = blendCoverage(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], bestColour);
      observed[p] = cov;
      area += cov;
      const x = p % size, y = (p - x) / size;
      bx0 = Math.min(bx0, x);
      by0 = Math.min(by0, y);
      bx1 = Math.max(bx1, x + 1);
      by1 = Math.max(by1, y + 1);
    }
    if (area >= minArea) {
      const fit = fitShape(observed, size, bx0, by0, bx1, by1);
      out.push({ shape: fit.shape, colour: PALETTE[bestColour].colour, box: fit.box, area, fitError: fit.rmse });
    }
    for (const p of members) observed[p] = 0;
  }
  return out;
}

interface Fit {
  shape: Shape;
  box: Box;
  sse: number;
  count: number;
}

/**
 * Best box of `shape` for the observed coverage whose non-zero pixels span [bx0, bx1) x
 * [by0, by1): sides from the extent to 2 px more, every position that contains the extent.
 * Beats `best` or returns it.
 */
function fitBox(shape: Shape, samples: number, observed: Float32Array, canvas: number, bx0: number, by0: number, bx1: number, by1: number, best: Fit): Fit {
  const extent = Math.max(bx1 - bx0, by1 - by0);
  for (let side = extent; side <= extent + 2; side++) {
    const pattern = coveragePattern(shape, side, samples);
    for (const y0 of offsets(by0, by1, side)) {
      for (const x0 of offsets(bx0, bx1, side)) {
        // Squared error over the box's pixels on the canvas; every observed pixel lies in
        // the box by construction of the offsets, so nothing outside it is left unexplained.
        let sse = 0;
        let count = 0;
        const ys = Math.max(0, y0), ye = Math.min(canvas, y0 + side);
        const xs = Math.max(0, x0), xe = Math.min(canvas, x0 + side);
        for (let y = ys; y < ye && sse < best.sse; y++) {
          const row = (y - y0) * side - x0;
          const orow = y * canvas;
          for (let x = xs; x < xe; x++) {
            const e = pattern[row + x] - observed[orow + x];
            sse += e * e;
          }
          count += xe - xs;
        }
        if (sse < best.sse) best = { shape, box: { x0, y0, x1: x0 + side, y1: y0 + side }, sse, count };
      }
    }
  }
  return best;
}

/**
 * Shape first, on patterns sampled once per pixel (16x cheaper, and enough: the shapes differ
 * in hundreds of pixels, one-sample patterns from the exact ones only along the rim), then
 * the box of that shape on the renderer's exact 4x4-sampled patterns.
 */
function fitShape(observed: Float32Array, canvas: number, bx0: number, by0: number, bx1: number, by1: number): { shape: Shape; box: Box; rmse: number } {
  const none: Fit = { shape: SHAPES[0], box: { x0: bx0, y0: by0, x1: bx1, y1: by1 }, sse: Infinity, count: 1 };
  let coarse = none;
  for (const shape of SHAPES) coarse = fitBox(shape, 1, observed, canvas, bx0, by0, bx1, by1, coarse);
  const fine = fitBox(coarse.shape, RENDER_SUPERSAMPLE, observed, canvas, bx0, by0, bx1, by1, none);
  return { shape: fine.shape, box: fine.box, rmse: Math.sqrt(fine.sse / Math.max(1, fine.count)) };
}

/** The identity normalisation (pixels as they are), spelled out: encoder.ts is type-only here. */
const RAW_PIXELS: Normalisation = { channelOrder: "rgb", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

/**
 * Preprocessing: a 224x224 image (a rendered scene) is taken as it is; anything else has its
 * shorter side scaled to 224 and is centre-cropped, so a square scene drawn larger is shrunk
 * whole rather than having its border cropped away as the paper's 256-then-224 would.
 */
export const SHAPES_PREPROCESS: PreprocessOptions = { crop: SHAPES_INPUT_SIZE, resize: SHAPES_INPUT_SIZE, keepExactCrop: true };

export const SHAPES_ENCODER_NAME = "shapes-scene-parser";

/** Encoder of rendered shapes scenes: parseScene, then SyntheticFeatures without noise. */
export class ShapesEncoder extends IdentifiedEncoder {
  readonly id: EncoderIdentity;
  private readonly features: SyntheticFeatures;

  /** `features`: the options the model's training features were synthesised with (its noise
   * is ignored: the noise regularised training, an encoder is deterministic). */
  constructor(features: FeatureOptions = {}) {
    super();
    this.features = new SyntheticFeatures({ ...features, noiseStd: 0 });
    const g = this.features.grid;
    this.id = {
      name: SHAPES_ENCODER_NAME,
      modelSha256: "none (parameter-free)",
      layer: `synthetic-features ${JSON.stringify({ ...features, noiseStd: 0 })}`,
      L: this.features.numLocations,
      D: this.features.dim,
      grid: [g, g],
      inputSize: SHAPES_INPUT_SIZE,
      normalisation: RAW_PIXELS,
      preprocess: SHAPES_PREPROCESS,
    };
  }
  /** The annotation vectors ([L * D]) of already-parsed objects. */
  objectFeatures(objects: readonly SceneObject[]): Float32Array {
    const scene: Scene = { id: "parsed", seed: 0, canvas: SHAPES_INPUT_SIZE, objects: objects.map(({ shape, colour, box }) => ({ shape, colour, box })), captions: [] };
    return this.features.sceneFeatures(scene);
  }

  encode(images: readonly Uint8Array[]): Float32Array {
    const LD = this.L * this.D;
    const out = new Float32Array(images.length * LD);
    images.forEach((img, i) => out.set(this.objectFeatures(parseScene(img, SHAPES_INPUT_SIZE)), i * LD));
    return out;
  }

  dispose(): void {}
}
