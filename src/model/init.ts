/**
 * Parameter initialisation of the authors' code (docs/model.md §Initialisation): weights
 * N(0, 0.01²), each n x n gate block of the recurrent matrix U orthogonal, biases zero.
 */
import type { ModelConfig } from "./config.js";
import { paramLayout, type ParamName } from "./layout.js";
import { SeededRandom } from "../util/rng.js";

const BIASES: ReadonlySet<ParamName> = new Set(["b_ih", "b_ic", "b_a", "b_att", "b_beta", "b", "b_o"]);

/** A random orthogonal n x n matrix (modified Gram-Schmidt on a Gaussian matrix), row-major. */
export function orthogonalMatrix(n: number, rng: SeededRandom): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let dot = 0;
      for (let k = 0; k < n; k++) dot += q[ri + k] * q[rj + k];
      for (let k = 0; k < n; k++) q[ri + k] -= dot * q[rj + k];
    }
    let norm = 0;
    for (let k = 0; k < n; k++) norm += q[ri + k] * q[ri + k];
    norm = Math.sqrt(norm);
    for (let k = 0; k < n; k++) q[ri + k] /= norm;
  }
  return q;
}

export function initParams(config: ModelConfig, seed: number): Float32Array {
  const layout = paramLayout(config);
  const params = new Float32Array(layout.total);
  const rng = new SeededRandom(seed);
  for (const slot of layout.order) {
    if (BIASES.has(slot.name)) continue;
    if (slot.name === "U") {
      // U is [n, 4n]: gate block g occupies columns g*n .. (g+1)*n - 1.
      const n = config.hiddenDim;
      for (let g = 0; g < 4; g++) {
        const q = orthogonalMatrix(n, rng);
        for (let r = 0; r < n; r++) {
          for (let c = 0; c < n; c++) params[slot.offset + r * 4 * n + g * n + c] = q[r * n + c];
        }
      }
      continue;
    }
    for (let i = 0; i < slot.size; i++) params[slot.offset + i] = 0.01 * rng.normal();
  }
  return params;
}
