/**
 * Counter-based random streams (docs/engine.md, "Random streams"). The native engine
 * implements the same functions bit for bit, so dropout masks and sampled locations agree
 * between the two implementations without passing arrays around.
 */
export function hash32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** uniform(seed, i) in [0, 1): 24 random bits. */
export function uniform(seed: number, i: number): number {
  return (hash32((hash32(seed) + i) >>> 0) >>> 8) / 16777216;
}

/** Seed of the hard-attention location stream, derived from the step seed. */
export const LOCATION_STREAM_XOR = 0x5bd1e995;

/** A small seeded generator for initialisation and data order (mulberry32 + Box-Muller). */
export class SeededRandom {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u <= 1e-300) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** The generator's state, for checkpoints (resume continues the same sequence). */
  getState(): { state: number; spare: number | null } {
    return { state: this.state, spare: this.spare };
  }
  setState(s: { state: number; spare: number | null }): void {
    this.state = s.state >>> 0;
    this.spare = s.spare;
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}
