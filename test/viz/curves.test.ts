// Training curves drawn with Vega-Lite: long runs bucketed, labelled axes with ticks over the
// data's range, a line per seed plus their mean, and the synchronous SVG path equal to Vega's
// own toSVG().
import { test } from "node:test";
import assert from "node:assert/strict";
import { bucketMean, meanAtCommonSteps, renderSeedCurves, renderTrainingCurves } from "../../src/viz/curves.js";
import { vegaLiteToSvg, vegaLiteToSvgAsync } from "../../src/viz/vega-svg.js";

test("bucketMean averages consecutive steps", () => {
  const pts = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, value: i }));
  // size ceil(10/4) = 3: buckets [0,1,2] [3,4,5] [6,7,8] [9] -> means 1, 4, 7, 9 at steps 3, 6, 9, 10
  assert.deepEqual(bucketMean(pts, 4), [{ step: 3, value: 1 }, { step: 6, value: 4 }, { step: 9, value: 7 }, { step: 10, value: 9 }]);
  assert.equal(bucketMean(pts, 20), pts);
});

test("meanAtCommonSteps averages the steps every series has", () => {
  const a = [{ step: 10, value: 1 }, { step: 20, value: 3 }, { step: 30, value: 5 }];
  const b = [{ step: 10, value: 3 }, { step: 20, value: 5 }]; // stopped early (patience)
  assert.deepEqual(meanAtCommonSteps([a, b]), [{ step: 10, value: 2 }, { step: 20, value: 4 }]);
  assert.deepEqual(meanAtCommonSteps([]), []);
});

/** The text of every <text> element of an SVG (axis tick labels, titles, legend entries). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}

test("after the first validation the BLEU-4 panel has a step axis from 0 with ticks and its value inside", () => {
  const svg = renderTrainingCurves({
    loss: Array.from({ length: 500 }, (_, i) => ({ step: i + 1, value: 5 - i / 250 })),
    bleu4: [{ step: 500, value: 0.12 }],
    entropy: [],
  });
  assert.ok(svg.startsWith("<svg"));
  const t = texts(svg);
  for (const title of ["loss per word", "validation BLEU-4 (x100)", "attention entropy (nats)", "training step"]) assert.ok(t.includes(title), `names ${title}`);
  // Step ticks 0, 100, ..., 500 on the x axes (not just the end points).
  for (const tick of ["0", "100", "200", "300", "400", "500"]) assert.ok(t.includes(tick), `step tick ${tick}`);
  // The single BLEU-4 value (12.0) gets an axis around it: ticks below and above 12.
  const numeric = t.map(Number).filter((x) => Number.isFinite(x));
  assert.ok(numeric.some((x) => x > 11 && x < 12) && numeric.some((x) => x > 12 && x < 13), `BLEU-4 ticks around 12: ${t.join(" ")}`);
  assert.ok(t.includes("no data yet"), "the empty entropy panel says so");
});

test("renderSeedCurves draws one line per seed and the mean, with a legend", () => {
  const run = (offset: number) => ({
    loss: [1, 2, 3].map((s) => ({ step: s * 10, value: 4 - s + offset })),
    bleu4: [{ step: 10, value: 0.1 + offset }, { step: 30, value: 0.2 + offset }],
    entropy: [],
  });
  const svg = renderSeedCurves([{ name: "seed 1", curves: run(0) }, { name: "seed 2", curves: run(0.02) }], "soft attention");
  const t = texts(svg);
  for (const name of ["seed 1", "seed 2", "mean", "soft attention"]) assert.ok(t.includes(name), `names ${name}`);
  // Two panels x three series: six line paths (Vega draws each line as one path, role-mark line).
  assert.equal((svg.match(/aria-roledescription="line mark"/g) ?? []).length, 6);
});

test("the synchronous renderer gives exactly the SVG of Vega's own toSVG()", async () => {
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    width: 200,
    height: 100,
    data: { values: [{ x: 1, y: 2 }, { x: 2, y: 5 }, { x: 3, y: 4 }] },
    mark: { type: "line" as const, point: true },
    encoding: { x: { field: "x", type: "quantitative" as const }, y: { field: "y", type: "quantitative" as const } },
  };
  assert.equal(vegaLiteToSvg(spec), await vegaLiteToSvgAsync(spec));
});
