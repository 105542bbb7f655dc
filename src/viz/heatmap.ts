/**
 * Attention maps as images (paper Sec. 5.4): α_t over the grid, upsampled to the input crop
 * and smoothed with a Gaussian, as the authors' notebook did (σ = 20 px at 224 scale).
 *
 * The map is a density: pixel values sum to Σ_i α_i (1 for a softmax), so a map says how much
 * attention lies in any region of the image, and the blur moves mass without losing it at the
 * borders (mirror boundary, see gaussianBlur).
 */
import { attentionSigma } from "./attention-sigma.js";

/** Normalised 1-D Gaussian taps g[-r..r] (index k + r), r = ceil(3σ). */
export function gaussianKernel(sigma: number): Float32Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`gaussianKernel: sigma must be a positive number, got ${sigma}`);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const g = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let k = -r; k <= r; k++) sum += g[k + r] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let k = 0; k < g.length; k++) g[k] /= sum;
  return g;
}

/**
 * Index of the half-sample mirror extension of [0, n): ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
 * With this boundary and a symmetric kernel, the blur operator is a symmetric matrix whose
 * rows sum to 1, so its columns do too: the blur keeps a constant image constant (uniform
 * attention stays uniform, no dark frame) and keeps the total mass (nothing leaks off the
 * image, unlike zero padding).
 */
function mirror(p: number, n: number): number {
  const period = 2 * n;
  p = ((p % period) + period) % period;
  return p < n ? p : period - 1 - p;
}

/** One blur pass along one axis: `lines` lines of n samples, `stride` apart within a line. */
function blurAxis(src: Float32Array, dst: Float32Array, n: number, lines: number, stride: number, lineStride: number, g: Float32Array): void {
  const r = (g.length - 1) >> 1;
  const tmp = new Float32Array(n);
  for (let l = 0; l < lines; l++) {
    const base = l * lineStride;
    for (let s = 0; s < n; s++) tmp[s] = src[base + s * stride];
    for (let x = 0; x < n; x++) {
      let acc = 0;
      if (x - r >= 0 && x + r < n) {
        for (let k = -r; k <= r; k++) acc += tmp[x + k] * g[k + r];
      } else {
        for (let k = -r; k <= r; k++) acc += tmp[mirror(x + k, n)] * g[k + r];
      }
      dst[base + x * stride] = acc;
    }
  }
}

/**
 * Separable Gaussian blur of a single-channel w x h image (row-major), mirrored at the
 * borders: preserves the image's sum and leaves a constant image unchanged.
 */
export function gaussianBlur(img: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (img.length !== width * height) throw new Error(`gaussianBlur: image has ${img.length} values, expected ${width}x${height}`);
  if (sigma === 0) return Float32Array.from(img);
  const g = gaussianKernel(sigma);
  const mid = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  blurAxis(img, mid, width, height, 1, width, g);
  blurAxis(mid, out, height, width, width, 1, g);
  return out;
}

/**
 * α (grid² values, row-major: i = row * grid + col) spread over a size x size image: each
 * pixel takes its cell's α divided by the number of pixels in the cell (a cell is 16x16
 * pixels at 14 -> 224), so the image sums to Σ α.
 */
export function upsampleAttention(alpha: ArrayLike<number>, grid: number, size: number): Float32Array {
  if (alpha.length !== grid * grid) throw new Error(`upsampleAttention: alpha has ${alpha.length} values, expected grid² = ${grid * grid}`);
  if (!Number.isInteger(size) || size < grid) throw new Error(`upsampleAttention: size must be an integer >= grid (${grid}), got ${size}`);
  // Pixel p belongs to cell floor((p + 0.5) * grid / size): exact blocks when size is a
  // multiple of grid, the nearest cell otherwise.
  const cellOf = Int32Array.from({ length: size }, (_, p) => Math.min(grid - 1, Math.floor(((p + 0.5) * grid) / size)));
  const perCell = new Float32Array(grid);
  for (let p = 0; p < size; p++) perCell[cellOf[p]]++;
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const r = cellOf[y];
    for (let x = 0; x < size; x++) {
      const c = cellOf[x];
      out[y * size + x] = alpha[r * grid + c] / (perCell[r] * perCell[c]);
    }
  }
  return out;
}

/**
 * The operator "upsample one axis, then blur it" as a size x grid matrix:
 *   M[y][r] = Σ_{k : mirror(y + k) in cell r} g(k) / |cell r|.
 * Blur∘upsample of a grid map A is then M A Mᵀ (the upsampled map is constant on each
 * cell's pixels, and both steps are separable), about 0.75 M multiply-adds at 14 -> 224
 * instead of 12 M for blurring the full image; gaussianBlur(upsampleAttention(..)) gives the
 * same values and is what the tests compare it with.
 */
function upsampleBlurMatrix(grid: number, size: number, sigma: number): Float32Array {
  const cellOf = Int32Array.from({ length: size }, (_, p) => Math.min(grid - 1, Math.floor(((p + 0.5) * grid) / size)));
  const perCell = new Float32Array(grid);
  for (let p = 0; p < size; p++) perCell[cellOf[p]]++;
  const m = new Float32Array(size * grid);
  if (sigma === 0) {
    for (let y = 0; y < size; y++) m[y * grid + cellOf[y]] = 1 / perCell[cellOf[y]];
    return m;
  }
  const g = gaussianKernel(sigma);
  const r = (g.length - 1) >> 1;
  for (let y = 0; y < size; y++) {
    for (let k = -r; k <= r; k++) {
      const cell = cellOf[mirror(y + k, size)];
      m[y * grid + cell] += g[k + r] / perCell[cell];
    }
  }
  return m;
}

const matrixCache = new Map<string, Float32Array>();

/**
 * The attention map of one word: α reshaped to grid x grid, upsampled to size x size and
 * smoothed with a Gaussian of `sigma` pixels (0: no smoothing; default: the figures' σ at this
 * size). Sums to Σ α.
 */
export function attentionHeatmap(alpha: ArrayLike<number>, grid = 14, size = 224, sigma = attentionSigma(size)): Float32Array {
  if (alpha.length !== grid * grid) throw new Error(`attentionHeatmap: alpha has ${alpha.length} values, expected grid² = ${grid * grid}`);
  if (!Number.isInteger(size) || size < grid) throw new Error(`attentionHeatmap: size must be an integer >= grid (${grid}), got ${size}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new Error(`attentionHeatmap: sigma must be a finite number >= 0, got ${sigma}`);
  const key = `${grid}/${size}/${sigma}`;
  let m = matrixCache.get(key);
  if (!m) {
    m = upsampleBlurMatrix(grid, size, sigma);
    if (matrixCache.size > 16) matrixCache.clear();
    matrixCache.set(key, m);
  }
  // rows = A Mᵀ (grid x size), then out = M rows (size x size).
  const rows = new Float64Array(grid * size);
  for (let r = 0; r < grid; r++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let c = 0; c < grid; c++) acc += alpha[r * grid + c] * m[x * grid + c];
      rows[r * size + x] = acc;
    }
  }
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let r = 0; r < grid; r++) {
      const w = m[y * grid + r];
      if (w === 0) continue;
      const o = y * size;
      const src = r * size;
      for (let x = 0; x < size; x++) out[o + x] += w * rows[src + x];
    }
  }
  return out;
}
