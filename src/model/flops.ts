/**
 * FLOPs of the decoder (docs/engine.md, "FLOPs of a training step"): 2 per multiply-add of
 * every GEMM of the forward and backward passes as arranged there; elementwise work and the
 * per-row dot products of attention are not counted. The bench divides time by these.
 */
import type { ModelConfig } from "./config.js";

export function trainingStepFlops(c: ModelConfig, B: number, T: number): number {
  const { vocabSize: K, embedDim: m, hiddenDim: n, attnDim: A, featureDim: D, numLocations: L } = c;
  const R = B * T;
  const nD = n + D;
  const forward =
    2 * B * D * n * 2 + // h_0, c_0
    B * L * D * A + // P = a W_a
    R * m * 4 * n + // G^x = X W_x
    R * n * A + // q_t = h_{t-1} W_h
    R * nD * 4 * n + // [h_{t-1} | ẑ_t] [U; W_z]
    R * nD * m + // H L_h + Ẑ L_z
    R * m * K; // ũ L_o
  const backward =
    2 * R * m * K + // dL_o, dũ
    2 * R * nD * m + // d[L_h; L_z], [dH_out | dẐ_out]
    2 * R * nD * 4 * n + // dG [U; W_z]ᵀ per step, d[U; W_z]
    2 * R * m * 4 * n + // dW_x, dG W_xᵀ
    2 * R * n * A + // dq W_hᵀ, dW_h
    B * L * D * A + // dW_a
    2 * B * D * n * 2; // dW_ih, dW_ic
  return 2 * (forward + backward);
}

/** One decoding step of N rows (the per-image projection W_a a is done once, not counted). */
export function decodeStepFlops(c: ModelConfig, N: number): number {
  const { vocabSize: K, embedDim: m, hiddenDim: n, attnDim: A, featureDim: D } = c;
  return 2 * N * (n * A + m * 4 * n + (n + D) * 4 * n + (n + D) * m + m * K);
}
