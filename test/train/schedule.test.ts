// Learning-rate schedules: pure functions of the step (so a resumed run needs no state).
import { test } from "node:test";
import assert from "node:assert/strict";
import { scheduledLr } from "../../src/train/options.js";

test("constant, step and cosine schedules", () => {
  const o = { lrSchedule: "step" as const, lrDecay: 0.1, lrDecayEvery: 10 };
  assert.equal(scheduledLr(1, 1, 100, { ...o, lrSchedule: "constant" }), 1);
  assert.deepEqual([1, 10, 11, 21].map((s) => scheduledLr(1, s, 100, o)), [1, 1, 0.1, 0.1 * 0.1]);
  const c = { ...o, lrSchedule: "cosine" as const };
  assert.equal(scheduledLr(2, 1, 100, c), 2); // starts at the base rate
  assert.ok(Math.abs(scheduledLr(2, 51, 100, c) - 1) < 1e-12); // half way: half the rate
  assert.ok(Math.abs(scheduledLr(2, 101, 100, c)) < 1e-12); // ends at 0
});
