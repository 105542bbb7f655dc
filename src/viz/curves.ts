/**
 * Training curves as SVG, drawn with Vega-Lite (src/viz/vega-svg.ts): loss per word (mean per
 * step bucket), validation BLEU-4 and attention entropy against the training step, with
 * labelled axes and ticks. `sat train` rewrites one run's curves after every validation;
 * `sat reproduce` draws several runs (one line per seed, and their mean) side by side.
 */
import type { TopLevelSpec } from "vega-lite";
import { vegaLiteToSvg } from "./vega-svg.js";

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

/** Points per line of a per-step series (loss, entropy): enough for the shape, light to draw. */
const MAX_LINE_POINTS = 400;

/** One line of a chart: its points and the legend name. */
interface Series {
  name: string;
  points: CurvePoint[];
}

interface Panel {
  title: string;
  series: Series[];
  /** Mark every point (validations), not only the line through them. */
  points: boolean;
}

const MEAN = "mean";
const PANEL_WIDTH = 300;
const PANEL_HEIGHT = 190;

function panelSpec(p: Panel, colours: { domain: string[]; range: string[] }) {
  const values = p.series.flatMap((s) => s.points.map((pt) => ({ series: s.name, step: pt.step, value: pt.value })));
  const x = { field: "step", type: "quantitative" as const, title: "training step", axis: { tickCount: 6, format: "~s" }, scale: { domainMin: 0 } };
  const flat = values.map((v) => v.value);
  const lo = Math.min(...flat);
  const hi = Math.max(...flat);
  // A single value (the first validation) still gets an axis with ticks around it.
  const halfSpan = Math.max(Math.abs(lo) * 0.05, 0.5);
  const domain = values.length && hi - lo < 1e-9 ? { domain: [lo - halfSpan, hi + halfSpan] } : {};
  const y = { field: "value", type: "quantitative" as const, title: p.title, scale: { zero: false, ...domain }, axis: { tickCount: 5, format: ".4~r" } };
  const color = { field: "series", type: "nominal" as const, title: null, scale: colours, legend: p.series.length > 1 ? { orient: "bottom" as const } : null };
  return {
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    title: p.title,
    // An empty panel still needs one datum for its "no data yet" note to be drawn.
    data: { values: values.length ? values : [{}] },
    layer: values.length
      ? [
          {
            mark: { type: "line" as const, point: p.points ? { filled: true, size: 28 } : false, strokeWidth: 1.5 },
            encoding: {
              x,
              y,
              color,
              // The mean over seeds stands out from the seeds it summarises.
              strokeWidth: { condition: { test: `datum.series === '${MEAN}'`, value: 2.6 }, value: 1.4 },
              detail: { field: "series", type: "nominal" as const },
            },
          },
        ]
      : [{ mark: { type: "text" as const, text: "no data yet", color: "#888" }, encoding: { x: { value: PANEL_WIDTH / 2 }, y: { value: PANEL_HEIGHT / 2 } } }],
  };
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function chart(panels: Panel[], title?: string): string {
  const names = [...new Set(panels.flatMap((p) => p.series.map((s) => s.name)))];
  const domain = [...names.filter((n) => n !== MEAN), ...(names.includes(MEAN) ? [MEAN] : [])];
  const range = domain.map((n, i) => (n === MEAN ? "#000000" : PALETTE[i % PALETTE.length]));
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(title ? { title } : {}),
    background: "white",
    config: { font: "sans-serif", view: { stroke: "#999" } },
    hconcat: panels.map((p) => panelSpec(p, { domain, range })),
  } as TopLevelSpec;
  return vegaLiteToSvg(spec);
}

/** One run's curves (the file `sat train` writes as curves.svg). */
export function renderTrainingCurves(c: TrainingCurves): string {
  const one = (name: string, points: CurvePoint[]): Series[] => [{ name, points }];
  return chart([
    { title: "loss per word", series: one("loss", bucketMean(c.loss, MAX_LINE_POINTS)), points: false },
    { title: "validation BLEU-4 (x100)", series: one("BLEU-4", c.bleu4.map((p) => ({ step: p.step, value: 100 * p.value }))), points: true },
    { title: "attention entropy (nats)", series: one("entropy", bucketMean(c.entropy, MAX_LINE_POINTS)), points: false },
  ]);
}

/**
 * The mean of several series at the steps all of them have (seeds of one protocol validate
 * at the same steps; a run stopped early by patience ends the mean there).
 */
export function meanAtCommonSteps(series: CurvePoint[][]): CurvePoint[] {
  if (series.length === 0) return [];
  const maps = series.map((s) => new Map(s.map((p) => [p.step, p.value])));
  return series[0]
    .filter((p) => maps.every((m) => m.has(p.step)))
    .map((p) => ({ step: p.step, value: maps.reduce((sum, m) => sum + m.get(p.step)!, 0) / maps.length }));
}

/** Several runs of one variant: loss and validation BLEU-4, one line per run and their mean. */
export function renderSeedCurves(runs: { name: string; curves: TrainingCurves }[], title: string): string {
  const perRun = (pick: (c: TrainingCurves) => CurvePoint[], scale: number, bucket: boolean): Series[] => {
    const lines = runs.map((r) => {
      const pts = pick(r.curves).map((p) => ({ step: p.step, value: scale * p.value }));
      return { name: r.name, points: pts };
    });
    const mean = runs.length > 1 ? [{ name: MEAN, points: meanAtCommonSteps(lines.map((l) => l.points)) }] : [];
    return [...lines, ...mean].map((s) => ({ ...s, points: bucket ? bucketMean(s.points, MAX_LINE_POINTS) : s.points }));
  };
  return chart(
    [
      { title: "loss per word", series: perRun((c) => c.loss, 1, true), points: false },
      { title: "validation BLEU-4 (x100)", series: perRun((c) => c.bleu4, 100, false), points: true },
    ],
    title,
  );
}
