// Memory under an upload flood (flood-measure.ts): 40 parallel 9 MiB uploads, twice, against
// a server with a 40 MiB upload budget. Without the budget every upload is held at once
// (about 1.8 x 9 MiB each: +650 MiB here); with it the excess is refused at once with 503, and
// the server's peak resident memory grows by at most 2 x the budget + 96 MiB: the budget
// counts each upload once, and up to as much again is transient (the socket's chunks copied
// into the upload's buffer or discarded, until the garbage collector frees them), plus 96 MiB for
// the 40 connections and the heap (measured +66 to +95 MiB under Node 24 and +101 to +122 MiB
// under Node 20; +186 MiB under Node 24 when the worker left its uploads to its own collector
// instead of releasing them, and +104 to +215 MiB when the server left the socket's chunks,
// copied or discarded, to its collector). docs/serving.md states the bound for the defaults.
import { test } from "node:test";
import assert from "node:assert/strict";
import { releaseUpload } from "../../src/serve/protocol.js";
import { freeChunk } from "../../src/util/free-bytes.js";
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

test("releaseUpload frees the job's upload at once (detaches its buffer) where ArrayBuffer.prototype.transfer exists", (t) => {
  const bytes = new Uint8Array(1 << 20).fill(7);
  releaseUpload({ id: 1, bytes, options: { beamWidth: 1, topN: 1, maxLength: 5, overlay: false } });
  if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== "function") {
    t.diagnostic(`Node ${process.version} has no ArrayBuffer.prototype.transfer: the upload is left to the collector`);
    assert.equal(bytes.length, 1 << 20);
    return;
  }
  assert.equal(bytes.length, 0, "the view sees a detached buffer");
  assert.equal(bytes.buffer.byteLength, 0);
  // A second release (the job failed after it was released) is harmless.
  releaseUpload({ id: 1, bytes, options: { beamWidth: 1, topN: 1, maxLength: 5, overlay: false } });
});

test("freeChunk frees a chunk that is the whole of its ArrayBuffer, and never a view into a shared one", (t) => {
  if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== "function") {
    t.diagnostic(`Node ${process.version} has no ArrayBuffer.prototype.transfer: chunks are left to the collector`);
    return;
  }
  const own = Buffer.from(new ArrayBuffer(65536));
  freeChunk(own);
  assert.equal(own.length, 0, "a chunk with an ArrayBuffer of its own is detached");
  // Buffer.from(string) of a few bytes comes from Node's shared 8 KiB pool: detaching it would
  // empty every other Buffer in that pool.
  const pooled = Buffer.from("a small pooled buffer");
  const neighbour = Buffer.from("its neighbour in the pool");
  assert.notEqual(pooled.byteLength, pooled.buffer.byteLength, "the fixture really is a pooled view");
  freeChunk(pooled);
  assert.equal(pooled.toString(), "a small pooled buffer");
  assert.equal(neighbour.toString(), "its neighbour in the pool");
  const slice = Buffer.from(new ArrayBuffer(1024), 0, 512);
  freeChunk(slice);
  assert.equal(slice.length, 512, "a view of part of an ArrayBuffer is left alone");
});
