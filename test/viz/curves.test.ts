// Training curves SVG: one polyline per panel, long runs bucketed, values mapped into the plot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { bucketMean, renderTrainingCurves } from "../../src/viz/curves.js";

test("bucketMean averages consecutive steps", () => {
  const pts = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, value: i }));
  // size ceil(10/4) = 3: buckets [0,1,2] [3,4,5] [6,7,8] [9] -> means 1, 4, 7, 9 at steps 3, 6, 9, 10
  assert.deepEqual(bucketMean(pts, 4), [{ step: 3, value: 1 }, { step: 6, value: 4 }, { step: 9, value: 7 }, { step: 10, value: 9 }]);
  assert.equal(bucketMean(pts, 20), pts);
});

test("renderTrainingCurves draws three panels; the highest value sits at the top of its plot", () => {
  const svg = renderTrainingCurves({
    loss: [{ step: 1, value: 5 }, { step: 2, value: 3 }],
    bleu4: [{ step: 2, value: 0.1 }, { step: 4, value: 0.2 }],
    entropy: [],
  });
  assert.ok(svg.startsWith("<svg"));
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2);
  assert.match(svg, /no data yet/);
  // loss panel: first point (value 5 = max) at y = top (30), second (min) at the bottom (30 + 156 = 186).
  const pts = svg.match(/points="([^"]+)"/)![1].split(" ").map((p) => p.split(",").map(Number));
  assert.deepEqual(pts.map((p) => p[1]), [30, 186]);
  assert.match(svg, /BLEU-4 \(x100\)/);
  assert.match(svg, />20\.00</); // BLEU 0.2 shown as 20.00
});
