// Memory under an upload flood (flood-measure.ts): 40 parallel 9 MiB uploads, twice, against
// a server with a 40 MiB upload budget. Without the budget every upload is held at once
// (about 1.8 x 9 MiB each: +650 MiB here); with it the excess is refused at once with 503, and
// the server's peak resident memory grows by at most 2 x the budget + 96 MiB: the budget
// counts each upload once, and up to as much again is transient (the socket's chunks copied
// into the upload's buffer or discarded, until the garbage collector frees them), plus 96 MiB for
// the 40 connections and the heap (measured +94 to +148 MiB under Node 24, whose collector frees
// later than Node 20's, +91 to +104 MiB there). docs/serving.md states the bound for the defaults.
import { test } from "node:test";
import assert from "node:assert/strict";
import { measureFlood } from "./flood-measure.js";

test("an upload flood: memory stays under 2 x --upload-memory + 96 MiB, the excess gets 503", async (t) => {
  const budgetMiB = 40;
  const r = await measureFlood({ uploadMemory: budgetMiB * 1024 * 1024, parallel: 40, rounds: 2 });
  t.diagnostic(`RSS before ${r.rssBeforeMiB.toFixed(0)} MiB, peak ${r.peakAfterMiB.toFixed(0)} MiB (+${r.growthMiB.toFixed(0)} MiB); answers ${JSON.stringify(r.statuses)} in ${r.seconds} s`);
  assert.ok(r.growthMiB < 2 * budgetMiB + 96, `peak RSS grew by ${r.growthMiB.toFixed(0)} MiB`);
  assert.ok((r.statuses[200] ?? 0) > 0, "some uploads were captioned");
  assert.ok((r.statuses[503] ?? 0) > 0, "the excess was refused");
  assert.equal((r.statuses[200] ?? 0) + (r.statuses[503] ?? 0), 80, `only 200s and 503s: ${JSON.stringify(r.statuses)}`);
});
