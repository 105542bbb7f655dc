// The full-size shapes-task runs (npm run test:long; CI runs them): the demo's defaults, soft
// and hard attention, trained to near-perfect held-out captions with attention on the object
// being named far above chance. synthetic-task.test.ts is the quick version in `npm test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SYNTHETIC_TASK } from "../../src/train/synthetic-task.js";
import { assertNounMapsPeakInBoxes, report, skipWithoutNative as skip, trainShapesTask } from "./shapes-task.js";

test("soft attention learns the shapes task and looks at what it names", { skip }, async () => {
  const res = trainShapesTask({ attention: "soft", steps: DEFAULT_SYNTHETIC_TASK.steps });
  const loc = res.localisation;
  report("soft", res);
  // Measured 91% exact / 92% in box with these defaults; margins absorb float differences
  // between machines (OpenBLAS kernels) without letting a broken model through.
  assert.ok(res.exactMatch >= 0.8, `exact captions ${res.exactMatch}`);
  assert.ok(loc.mentions >= 200, `only ${loc.mentions} object mentions measured`);
  assert.ok(loc.atNoun >= 0.6 && loc.atNoun >= 5 * loc.chance, `attention in box ${loc.atNoun} vs chance ${loc.chance}`);
  await assertNounMapsPeakInBoxes(res, 10);
  res.engine.dispose();
});

test("hard attention learns the shapes task too", { skip }, () => {
  const res = trainShapesTask({ attention: "hard", steps: 2 * DEFAULT_SYNTHETIC_TASK.steps });
  const loc = res.localisation;
  report("hard", res);
  // Measured 80% exact / 92% in box.
  assert.ok(res.exactMatch >= 0.6, `exact captions ${res.exactMatch}`);
  assert.ok(loc.atNoun >= 0.5 && loc.atNoun >= 5 * loc.chance, `attention in box ${loc.atNoun} vs chance ${loc.chance}`);
  res.engine.dispose();
});
