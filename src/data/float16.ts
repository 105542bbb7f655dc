/**
 * IEEE 754 half precision, for storing encoder features compactly. Conversion rounds to
 * nearest, ties to even, so the stored value is the closest half to the float32 one:
 * relative error at most 2^-11 (4.9e-4) for |x| >= 2^-14 (6.1e-5), absolute error at most
 * 2^-25 (3.0e-8) below that. Magnitudes beyond the largest half (65504) saturate to it
 * rather than becoming infinite (ReLU features are far below; see the store's `saturated`).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export const HALF_MAX = 65504;

/** float32 -> half bits (round to nearest even; overflow saturates to +-65504, NaN stays NaN). */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 : sign | 0x7bff;
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7bff;
  if (e <= 0) {
    // Subnormal half: value = h * 2^-24.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent; past the top it would be inf.
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  if ((h & 0x7fff) >= 0x7c00) return sign | 0x7bff;
  return sign | h;
}

/** half bits -> value, for all 65536 patterns (reading features is a table look-up). */
export const HALF_TO_FLOAT: Float32Array = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

/** Converts `src` into half bits in `dst` (little-endian when written as bytes); returns how many values saturated. */
export function encodeHalf(src: ArrayLike<number>, dst: Uint16Array, offset = 0): number {
  let saturated = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v > HALF_MAX || v < -HALF_MAX) saturated++;
    dst[offset + i] = toHalf(v);
  }
  return saturated;
}

/** Converts half bits to float32 into `dst`. */
export function decodeHalf(src: Uint16Array, dst: Float32Array, offset = 0): Float32Array {
  for (let i = 0; i < src.length; i++) dst[offset + i] = HALF_TO_FLOAT[src[i]];
  return dst;
}

/** Float32 values as they are, or half bits (a Uint16Array) widened into a new Float32Array. */
export function asFloat32(values: Float32Array | Uint16Array): Float32Array {
  return values instanceof Uint16Array ? decodeHalf(values, new Float32Array(values.length)) : values;
}
