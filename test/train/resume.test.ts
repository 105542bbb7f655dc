// Resuming a training run: it refuses inputs other than those the run was started with (one
// line naming the field), and its log ends up line for line the uninterrupted run's: the steps
// taken after the last checkpoint are logged once, a line torn by a crash is dropped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../src/errors.js";
import { runTraining } from "../../src/train/run.js";
import { logWithoutTimings, makeRunFixture, shortRun } from "./run-fixture.js";

const fixture = makeRunFixture();
const root = new URL("../..", import.meta.url).pathname;

/** Runs until step `crashAt` is about to be logged, then fails as a crash would: no final checkpoint. */
async function crashAtStep(o: Parameters<typeof runTraining>[0], crashAt: number): Promise<void> {
  const crash = new Error("simulated crash");
  await assert.rejects(runTraining({ ...o, onStep: (s) => { if (s.step === crashAt) throw crash; } }), (e) => e === crash);
}

const straightLog = (async () => {
  const f = await fixture;
  const out = join(f.work, "straight");
  await runTraining(shortRun(f, out));
  return logWithoutTimings(out);
})();

test("--resume with a feature store of another L x D is refused in one line naming the field, exit 2", async () => {
  const f = await fixture;
  const out = join(f.work, "other-shape");
  await runTraining(shortRun(f, out, { maxSteps: 4 }));
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), "train", "--data", f.data, "--features", f.otherShapeStore, "--out", out, "--resume"], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^sat: --resume: feature store L is 9, the run was started with 16 \(.*\/checkpoint\/checkpoint\.json: features\.L\)\n$/);
});

test("--resume on another dataset or vocabulary size is refused, naming the field", async () => {
  const f = await fixture;
  const out = join(f.work, "other-data");
  await runTraining(shortRun(f, out, { maxSteps: 4 }));
  const lines = readFileSync(f.data, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { image: string; caption: string; split: string });
  const refused = async (change: Partial<Parameters<typeof runTraining>[0]>, message: RegExp) =>
    assert.rejects(runTraining(shortRun(f, out, { resume: true, ...change })), (e) => e instanceof UserError && message.test(e.message));

  // One training image moved to the validation split.
  const moved = join(f.work, "moved.jsonl");
  const firstTrain = lines.find((l) => l.split === "train")!.image;
  writeFileSync(moved, lines.map((l) => JSON.stringify(l.image === firstTrain ? { ...l, split: "val" } : l)).join("\n") + "\n");
  await refused({ data: moved }, /^--resume: dataset train images is 23, the run was started with 24 \(.*checkpoint\.json: dataset\.trainImages\)$/);

  // The same images and splits, one caption reworded.
  const reworded = join(f.work, "reworded.jsonl");
  writeFileSync(reworded, lines.map((l, i) => JSON.stringify(i === 0 ? { ...l, caption: `${l.caption} again` } : l)).join("\n") + "\n");
  await refused({ data: reworded }, /^--resume: dataset sha256 \(captions and splits\) is [0-9a-f]{64}, the run was started with [0-9a-f]{64} \(.*: dataset\.sha256\)$/);

  await refused({ vocabSize: 20 }, /^--resume: --vocab-size is 20, the run was started with 10000 \(.*: vocabulary\.maxSize\)$/);
  // What it was started with still resumes.
  await runTraining(shortRun(f, out, { resume: true, maxSteps: 5 }));
});

test("a resumed run's log holds each step once: the steps after the last checkpoint are cut, then taken again", async () => {
  const f = await fixture;
  const out = join(f.work, "crashed");
  // Crashed while logging step 11: steps 1-10 and the validations at 5 and 10 are logged, the
  // last checkpoint is step 8's.
  await crashAtStep(shortRun(f, out), 11);
  const before = logWithoutTimings(out).filter((e) => e.type === "step").map((e) => e.step);
  assert.deepEqual(before, Array.from({ length: 10 }, (_, i) => i + 1), "the log ran ahead of the checkpoint (else this test says nothing)");
  await runTraining(shortRun(f, out, { resume: true }));
  assert.deepEqual(logWithoutTimings(out), await straightLog);
});

test("a torn last line of log.jsonl is dropped with a one-line warning, and the resumed log equals the uninterrupted one", async () => {
  const f = await fixture;
  const out = join(f.work, "torn");
  await crashAtStep(shortRun(f, out), 9);
  const torn = '{"type":"step","step":9,"epo';
  appendFileSync(join(out, "log.jsonl"), torn);
  const warnings: string[] = [];
  await runTraining(shortRun(f, out, { resume: true, onWarning: (m) => warnings.push(m) }));
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0].includes(`log.jsonl: dropped a torn last line (${torn.length} characters, no newline)`), warnings[0]);
  assert.ok(!warnings[0].includes("\n"));
  assert.deepEqual(logWithoutTimings(out), await straightLog);
});
