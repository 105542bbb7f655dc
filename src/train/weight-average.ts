/**
 * An exponential moving average of the weights (Polyak averaging), for validation and the
 * best model: the usual remedy when the weights wander from one validation to the next, as
 * they do in the Flickr8k fine-tunes (docs/experiments/flickr8k.md §What did not move the
 * hard row, row 3).
 *
 * Zero-debiased, as Adam's moments: the average of the weights after updates 1..k is
 * a_k = Σ_j (1 - d) d^(k-j) p_j / (1 - d^k), so it is not anchored to the starting weights (a
 * random initialisation, or the --init model) and a_1 is the first update's weights. As a
 * recurrence: a_k = a_(k-1) + (1 - d) / (1 - d^k) (p_k - a_(k-1)).
 */
import type { FloatArray } from "../model/engine.js";

export interface WeightAverageState {
  decay: number;
  updates: number;
}

export class WeightAverage {
  readonly values: Float32Array;
  updates = 0;

  constructor(
    readonly decay: number,
    start: FloatArray,
  ) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`weight-average decay must be in (0, 1), got ${decay}`);
    this.values = Float32Array.from(start);
  }

  /** The weight (1 - d) / (1 - d^k) the next update, the k-th, gives the new weights. */
  get nextWeight(): number {
    return (1 - this.decay) / (1 - Math.pow(this.decay, this.updates + 1));
  }

  /** Folds in the weights after an optimiser step. */
  update(params: FloatArray): void {
    if (params.length !== this.values.length) throw new RangeError(`weight average holds ${this.values.length} values, params have ${params.length}`);
    const w = this.nextWeight;
    const a = this.values;
    for (let i = 0; i < a.length; i++) a[i] += w * (params[i] - a[i]);
    this.updates += 1;
  }

  /** Runs `fn` with the averaged weights in `params`, then puts the live weights back. */
  withAveraged<T>(params: FloatArray, fn: () => T): T {
    const live = Float32Array.from(params);
    params.set(this.values);
    try {
      return fn();
    } finally {
      params.set(live);
    }
  }

  getState(): WeightAverageState {
    return { decay: this.decay, updates: this.updates };
  }

  static restore(state: WeightAverageState, values: Float32Array): WeightAverage {
    const w = new WeightAverage(state.decay, values);
    w.updates = state.updates;
    return w;
  }
}
