/**
 * The flat parameter layout shared by the reference and the native engine (docs/engine.md).
 * All parameters live in one contiguous buffer; gradients and optimiser state mirror it.
 */
import type { ModelConfig } from "./config.js";

export const PARAM_NAMES = [
  "E", "W_ih", "b_ih", "W_ic", "b_ic", "W_a", "b_a", "W_h", "w_att", "b_att",
  "w_beta", "b_beta", "W_x", "U", "W_z", "b", "L_h", "L_z", "L_o", "b_o",
] as const;
export type ParamName = (typeof PARAM_NAMES)[number];

export interface ParamSlot {
  name: ParamName;
  shape: number[];
  offset: number;
  size: number;
}

export interface ParamLayout {
  slots: Record<ParamName, ParamSlot>;
  order: ParamSlot[];
  total: number;
}

export function paramShapes(c: ModelConfig): Record<ParamName, number[]> {
  const { vocabSize: K, embedDim: m, hiddenDim: n, attnDim: A, featureDim: D } = c;
  return {
    E: [K, m], W_ih: [D, n], b_ih: [n], W_ic: [D, n], b_ic: [n], W_a: [D, A], b_a: [A],
    W_h: [n, A], w_att: [A], b_att: [1], w_beta: [n], b_beta: [1], W_x: [m, 4 * n],
    U: [n, 4 * n], W_z: [D, 4 * n], b: [4 * n], L_h: [n, m], L_z: [D, m], L_o: [m, K], b_o: [K],
  };
}

export function paramLayout(c: ModelConfig): ParamLayout {
  const shapes = paramShapes(c);
  const slots = {} as Record<ParamName, ParamSlot>;
  const order: ParamSlot[] = [];
  let offset = 0;
  for (const name of PARAM_NAMES) {
    const shape = shapes[name];
    const size = shape.reduce((a, b) => a * b, 1);
    const slot = { name, shape, offset, size };
    slots[name] = slot;
    order.push(slot);
    offset += size;
  }
  return { slots, order, total: offset };
}

/** A view of one named tensor inside a flat buffer (no copy). */
export function view<T extends Float32Array | Float64Array>(buf: T, layout: ParamLayout, name: ParamName): T {
  const s = layout.slots[name];
  return buf.subarray(s.offset, s.offset + s.size) as T;
}
