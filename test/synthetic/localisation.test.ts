// Attention-in-box: cells count by the fraction of their area inside the box, so uniform
// attention scores exactly the chance value area(box) / area(image).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/util/rng.js";
import { attentionInBox, attentionOnCoverage, cellCoverage, chanceInBox, generateScenes, type Box } from "../../src/data/synthetic/index.js";

const L = 196;
const uniform = new Float32Array(L).fill(1 / L);
const oneHot = (i: number) => {
  const a = new Float32Array(L);
  a[i] = 1;
  return a;
};

test("uniform attention in a box equals the chance value, area / image area", () => {
  const rng = new SeededRandom(9);
  for (let k = 0; k < 200; k++) {
    // Arbitrary, non-integer boxes that do not align with the 16-pixel cells.
    const x0 = rng.next() * 200;
    const y0 = rng.next() * 200;
    const box: Box = { x0, y0, x1: x0 + 1 + rng.next() * (224 - x0 - 1), y1: y0 + 1 + rng.next() * (224 - y0 - 1) };
    const want = ((box.x1 - box.x0) * (box.y1 - box.y0)) / (224 * 224);
    assert.ok(Math.abs(chanceInBox(box) - want) < 1e-12);
    // float32 α: 196 terms of relative error 6e-8 each.
    assert.ok(Math.abs(attentionInBox(uniform, 14, box) - want) < 1e-6, `${JSON.stringify(box)}`);
  }
  for (const s of generateScenes(20, 4)) for (const o of s.objects) assert.ok(Math.abs(attentionInBox(uniform, 14, o.box) - chanceInBox(o.box)) < 1e-6);
});

test("one-hot attention: 1 in a cell inside the box, 0 outside, the overlap fraction on the edge", () => {
  const box: Box = { x0: 32, y0: 48, x1: 88, y1: 96 }; // cols 2..5 (the last half), rows 3..5
  assert.equal(attentionInBox(oneHot(3 * 14 + 2), 14, box), 1);
  assert.equal(attentionInBox(oneHot(4 * 14 + 4), 14, box), 1);
  assert.equal(attentionInBox(oneHot(3 * 14 + 5), 14, box), 0.5); // x 80..96, half inside
  assert.equal(attentionInBox(oneHot(2 * 14 + 2), 14, box), 0); // the row above
  assert.equal(attentionInBox(oneHot(13 * 14 + 13), 14, box), 0);
  // The whole image holds all the mass.
  assert.ok(Math.abs(attentionInBox(uniform, 14, { x0: 0, y0: 0, x1: 224, y1: 224 }) - 1) < 1e-6);
  // Boxes are clipped to the image for the chance value.
  assert.equal(chanceInBox({ x0: -10, y0: 0, x1: 112, y1: 224 }), 0.5);
  assert.throws(() => attentionInBox(new Float32Array(10), 14, box), /grid/);
});

test("attention on a shape's coverage: chance is the mean coverage, the shape's cells score more", () => {
  const s = generateScenes(1, 12, { minObjects: 1, maxObjects: 1 })[0];
  const cov = cellCoverage(s.objects[0].shape, s.objects[0].box);
  const meanCov = cov.reduce((a, x) => a + x, 0) / L;
  assert.ok(Math.abs(attentionOnCoverage(uniform, cov) - meanCov) < 1e-6);
  let best = 0;
  for (let i = 1; i < L; i++) if (cov[i] > cov[best]) best = i;
  assert.equal(attentionOnCoverage(oneHot(best), cov), cov[best]);
});
