/**
 * Training curves as a standalone SVG (no plotting dependency, opens in any browser): loss per
 * word (mean per step bucket), validation BLEU-4, and attention entropy, one panel each,
 * against the training step. `sat train` rewrites it after every validation.
 */

export interface CurvePoint {
  step: number;
  value: number;
}

export interface TrainingCurves {
  loss: CurvePoint[];
  bleu4: CurvePoint[];
  entropy: CurvePoint[];
}

/** Averages points into at most `maxPoints` buckets of consecutive steps (keeps long runs light). */
export function bucketMean(points: CurvePoint[], maxPoints: number): CurvePoint[] {
  if (points.length <= maxPoints) return points;
  const size = Math.ceil(points.length / maxPoints);
  const out: CurvePoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    out.push({ step: chunk[chunk.length - 1].step, value: chunk.reduce((s, p) => s + p.value, 0) / chunk.length });
  }
  return out;
}

const W = 360;
const H = 220;
const PAD = { l: 52, r: 14, t: 30, b: 34 };

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panel(x0: number, title: string, pts: CurvePoint[], colour: string): string {
  const parts = [`<g transform="translate(${x0},0)">`, `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`];
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  parts.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${iw}" height="${ih}" fill="none" stroke="#999"/>`);
  if (pts.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" font-size="12" fill="#888">no data yet</text></g>`);
    return parts.join("");
  }
  const s0 = pts[0].step;
  const s1 = Math.max(pts[pts.length - 1].step, s0 + 1);
  let lo = Math.min(...pts.map((p) => p.value));
  let hi = Math.max(...pts.map((p) => p.value));
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const X = (s: number) => PAD.l + ((s - s0) / (s1 - s0)) * iw;
  const Y = (v: number) => PAD.t + (1 - (v - lo) / (hi - lo)) * ih;
  const d = pts.map((p) => `${X(p.step).toFixed(1)},${Y(p.value).toFixed(1)}`).join(" ");
  parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.8" points="${d}"/>`);
  if (pts.length === 1) parts.push(`<circle cx="${X(pts[0].step).toFixed(1)}" cy="${Y(pts[0].value).toFixed(1)}" r="3" fill="${colour}"/>`);
  parts.push(`<text x="${PAD.l - 4}" y="${PAD.t + 4}" text-anchor="end" font-size="11">${fmt(hi)}</text>`);
  parts.push(`<text x="${PAD.l - 4}" y="${PAD.t + ih}" text-anchor="end" font-size="11">${fmt(lo)}</text>`);
  parts.push(`<text x="${PAD.l}" y="${H - 12}" font-size="11">${s0}</text>`);
  parts.push(`<text x="${PAD.l + iw}" y="${H - 12}" text-anchor="end" font-size="11">step ${s1}</text>`);
  parts.push("</g>");
  return parts.join("");
}

export function renderTrainingCurves(c: TrainingCurves): string {
  const panels = [
    panel(0, "loss per word", bucketMean(c.loss, 400), "#1f77b4"),
    panel(W, "validation BLEU-4 (x100)", c.bleu4.map((p) => ({ step: p.step, value: 100 * p.value })), "#d62728"),
    panel(2 * W, "attention entropy (nats)", bucketMean(c.entropy, 400), "#2ca02c"),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${3 * W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${panels.join("")}</svg>\n`;
}
