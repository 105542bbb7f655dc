// SIGKILL at many points of a short training run, most of them inside the writes of the
// checkpoint and best/ (a file half done, between its fsync and rename, between the two renames
// of a folder swap) and between log lines: the run kills itself at its n-th crash point
// (SAT_KILL_AT_WRITE, src/util/fs.ts), then is rerun (with --resume once a checkpoint exists)
// and killed again further on. After every kill each output loads; the run then ends exactly
// as an uninterrupted one: the same log line for line, the same weights and optimiser state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../../src/model/model-dir.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { runTraining } from "../../src/train/run.js";
import { logWithoutTimings, makeRunFixture, shortRun } from "./run-fixture.js";

const runner = new URL("./kill-runner.ts", import.meta.url).pathname;
// Each rerun counts its crash points from 1 and restarts from the last checkpoint, so growing
// kill points walk through the run, about a dozen of them before it completes.
const KILL_AT = [2, 4, 7, 10, 13, 16, 19, 23, 27, 31, 35, 40, 45, 50, 56, 62];

const hasCheckpoint = (out: string) => existsSync(join(out, "checkpoint")) || existsSync(join(out, "checkpoint.old"));

/** Every output a killed run left loads (a log line is written whole, so every line parses). */
function assertOutputsLoad(out: string, where: string): void {
  if (existsSync(join(out, "best")) || existsSync(join(out, "best.old"))) assert.doesNotThrow(() => loadModel(join(out, "best")), `best/ after ${where}`);
  if (hasCheckpoint(out)) assert.doesNotThrow(() => loadCheckpoint(join(out, "checkpoint")), `checkpoint/ after ${where}`);
  if (existsSync(join(out, "log.jsonl"))) assert.doesNotThrow(() => logWithoutTimings(out), `log.jsonl after ${where}`);
}

test("SIGKILL anywhere in a training run: every output loads, and --resume ends where the uninterrupted run does", async () => {
  const f = await makeRunFixture(7);
  const straight = join(f.work, "straight");
  await runTraining(shortRun(f, straight));

  const out = join(f.work, "killed");
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ["--import", "tsx", runner, JSON.stringify(shortRun(f, out, { resume: hasCheckpoint(out) }))], { encoding: "utf8", env: { ...process.env, ...env } });
  let kills = 0;
  let midSwap = 0;
  let finished = false;
  for (const n of KILL_AT) {
    const r = run({ SAT_KILL_AT_WRITE: String(n) });
    if (r.status === 0) {
      finished = true;
      break;
    }
    assert.equal(r.signal, "SIGKILL", `killed at crash point ${n}: ${r.stderr}`);
    kills++;
    if (readdirSync(out).some((name) => /\.(tmp|old)$/.test(name))) midSwap++;
    assertOutputsLoad(out, `the kill at crash point ${n}`);
  }
  assert.ok(kills >= 8 && midSwap >= 3, `${kills} kills, ${midSwap} inside a folder swap (fewer: the run did not reach the crash points)`);
  if (!finished) assert.equal(run({}).status, 0);

  assert.deepEqual(logWithoutTimings(out), logWithoutTimings(straight));
  const [a, b] = [loadCheckpoint(join(out, "checkpoint")), loadCheckpoint(join(straight, "checkpoint"))];
  assert.deepEqual(a.model.params, b.model.params);
  assert.deepEqual(a.optimizerState, b.optimizerState);
  assert.deepEqual(a.trainer, b.trainer);
  const [bestA, bestB] = [loadModel(join(out, "best")), loadModel(join(straight, "best"))];
  assert.deepEqual(bestA.params, bestB.params);
  assert.deepEqual(bestA.meta.training, bestB.meta.training);
  assert.deepEqual(readdirSync(out).sort(), readdirSync(straight).sort(), "no temporary or previous copies left");
});
