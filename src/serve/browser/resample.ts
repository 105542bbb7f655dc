/**
 * Resizing RGB bytes the way the server's sharp/libvips pipeline does (src/data/images.ts:
 * `resize(w, h, { kernel: "lanczos3" })`), so that in-browser mode encodes the crop the
 * server would, not the browser's own (differently filtered) canvas scaling:
 *
 *   - an integer box pre-shrink by floor(factor / 2) per axis (libvips keeps at least the
 *     last x2 of a reduction for the kernel),
 *   - then a Lanczos-3 reduction of the rest, vertical pass first, each pass rounded to
 *     bytes, the kernel stretched by the reduction factor (anti-aliasing),
 *   - enlargement (an image smaller than the target) with the Lanczos-3 kernel unstretched,
 *   - for JPEGs, sharp's shrink-on-load (libjpeg decoding at 1/2, 1/4 or 1/8 scale when the
 *     reduction allows) approximated by a box average of the same factor first.
 *
 * Measured against sharp (test/serve/browser-preprocess.test.ts): reductions of PNGs within
 * 0.2 grey levels on average and 2 at most; JPEG reductions within ~0.4 on average;
 * enlargements within ~3 on average (libvips upsizes differently). Not bit-exact: libvips
 * computes in fixed point, and libjpeg's scaled decoding is not a box filter.
 */

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/**
 * The scale at which sharp makes libjpeg decode a JPEG that is to be reduced by `shrink`
 * (its smaller axis factor): the largest of 8, 4, 2 not above it, halved when it equals the
 * integer part of the shrink (sharp avoids libjpeg's rounding at exact factors).
 */
export function jpegShrinkOnLoad(shrink: number): number {
  let s = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (s > 1 && Math.floor(shrink) === s) s /= 2;
  return s;
}

/** Box-average `k` samples along one axis (libvips' shrinkh/shrinkv); the last partial block averages what it has. */
function boxShrink(src: Uint8Array, w: number, h: number, k: number, horizontal: boolean): { data: Uint8Array; w: number; h: number } {
  const ow = horizontal ? Math.ceil(w / k) : w;
  const oh = horizontal ? h : Math.ceil(h / k);
  const out = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        let n = 0;
        for (let i = 0; i < k; i++) {
          const sx = horizontal ? x * k + i : x;
          const sy = horizontal ? y : y * k + i;
          if (sx >= w || sy >= h) break;
          s += src[(sy * w + sx) * 3 + c];
          n++;
        }
        out[(y * ow + x) * 3 + c] = Math.round(s / n);
      }
    }
  }
  return { data: out, w: ow, h: oh };
}

/** Lanczos-3 resampling of one axis to `n` samples, rounded to bytes. */
function lanczosAxis(src: Uint8Array, w: number, h: number, n: number, horizontal: boolean): Uint8Array {
  const len = horizontal ? w : h;
  const f = len / n;
  const stretch = Math.max(1, f);
  const support = 3 * stretch;
  const ow = horizontal ? n : w;
  const oh = horizontal ? h : n;
  const out = new Uint8Array(ow * oh * 3);
  const lines = horizontal ? h : w;
  const weights: number[] = [];
  for (let o = 0; o < n; o++) {
    // Sample centres aligned: output o covers input [o f, (o + 1) f).
    const centre = (o + 0.5) * f - 0.5;
    const lo = Math.ceil(centre - support);
    const hi = Math.floor(centre + support);
    weights.length = 0;
    let sum = 0;
    for (let i = lo; i <= hi; i++) sum += weights[weights.length] = lanczos3((i - centre) / stretch);
    for (let l = 0; l < lines; l++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = lo; i <= hi; i++) {
          const j = i < 0 ? 0 : i >= len ? len - 1 : i; // edges extended
          acc += weights[i - lo] * src[(horizontal ? l * w + j : j * w + l) * 3 + c];
        }
        const v = Math.round(acc / sum);
        out[(horizontal ? l * ow + o : o * ow + l) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

/** `rgb` (w x h x 3) resized to outW x outH x 3; `jpeg`: the image was decoded from a JPEG. */
export function resizeLikeSharp(rgb: Uint8Array, w: number, h: number, outW: number, outH: number, opts: { jpeg?: boolean } = {}): Uint8Array {
  if (rgb.length !== w * h * 3) throw new RangeError(`resizeLikeSharp: ${rgb.length} bytes is not ${w}x${h}x3`);
  let cur = { data: rgb, w, h };
  const s = opts.jpeg ? jpegShrinkOnLoad(Math.min(w / outW, h / outH)) : 1;
  if (s > 1) {
    cur = boxShrink(cur.data, cur.w, cur.h, s, false);
    cur = boxShrink(cur.data, cur.w, cur.h, s, true);
  }
  const kv = Math.max(1, Math.floor(cur.h / outH / 2));
  const kh = Math.max(1, Math.floor(cur.w / outW / 2));
  if (kv > 1) cur = boxShrink(cur.data, cur.w, cur.h, kv, false);
  if (kh > 1) cur = boxShrink(cur.data, cur.w, cur.h, kh, true);
  if (cur.h !== outH) cur = { data: lanczosAxis(cur.data, cur.w, cur.h, outH, false), w: cur.w, h: outH };
  if (cur.w !== outW) cur = { data: lanczosAxis(cur.data, cur.w, cur.h, outW, true), w: outW, h: cur.h };
  return cur.data;
}
