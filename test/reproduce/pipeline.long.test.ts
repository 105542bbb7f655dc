// `sat reproduce flickr8k` end to end on a tiny generated Flickr8k folder with 2 seeds: one run
// left alone, and one killed with SIGKILL mid soft training (the pipeline only, so its
// training child is left running), mid hard training (the whole process group), and mid dev
// selection, then stopped with SIGTERM, and each time rerun with the same command. Both must
// end with the same report.json, wall-clock times aside. A rerun with other arguments is
// refused in one line, exit 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTinyFlickr8k, writeTinyProtocol } from "./tiny-flickr8k.js";

const root = new URL("../..", import.meta.url).pathname;
const cli = join(root, "src/cli/index.ts");

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  pid: number;
  exited: Promise<Exit>;
  isRunning(): boolean;
}

function reproduce(env: NodeJS.ProcessEnv, args: string[]): Running {
  // Its own process group, so that a test can also kill the pipeline with all its children.
  const child = spawn(process.execPath, ["--import", "tsx", cli, "reproduce", "flickr8k", ...args], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  let running = true;
  const exited = new Promise<Exit>((r) =>
    child.on("close", (code, signal) => {
      running = false;
      r({ code, signal, stdout, stderr });
    }),
  );
  return { pid: child.pid!, exited, isRunning: () => running };
}

interface StateFile {
  stages: Record<string, { done: boolean; attempts: number }>;
}

function readState(out: string): StateFile | null {
  try {
    return JSON.parse(readFileSync(join(out, "state.json"), "utf8")) as StateFile;
  } catch {
    return null;
  }
}

function stepsLogged(run: string): number {
  try {
    return readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter((l) => l.includes('"type":"step"')).length;
  } catch {
    return 0;
  }
}

async function waitFor(what: string, p: Running, cond: () => boolean): Promise<void> {
  while (!cond()) {
    if (!p.isRunning()) assert.fail(`the pipeline ended before ${what}: ${(await p.exited).stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The report without what legitimately differs between two equal runs (wall-clock times). */
function reportOf(out: string): Record<string, unknown> {
  const r = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Record<string, unknown>;
  delete r.timings;
  return r;
}

test("sat reproduce flickr8k: killed anywhere and resumed, it reports what an uninterrupted run reports", { timeout: 40 * 60_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "sat-reproduce-"));
  const data = join(work, "flickr8k");
  await writeTinyFlickr8k(data);
  const env = { ...process.env, SAT_REPRODUCE_PROTOCOL: await writeTinyProtocol(join(work, "protocol")) };
  const outA = join(work, "straight");
  const outB = join(work, "killed");
  const argsOf = (out: string, extra: string[] = []) => ["--data", data, "--out", out, "--seeds", "1,2", ...extra];

  // The uninterrupted run goes on meanwhile (it shares nothing with the other but the data).
  const straight = reproduce(env, argsOf(outA));

  // 1. SIGKILL of the pipeline alone, mid soft training: its `sat train` child lives on.
  let b = reproduce(env, argsOf(outB));
  await waitFor("soft training of seed 1 passed its first checkpoint", b, () => stepsLogged(join(outB, "soft-seed1")) >= 25);
  process.kill(b.pid, "SIGKILL");
  assert.equal((await b.exited).signal, "SIGKILL");
  assert.equal(readState(outB)!.stages["train-soft-seed1"]?.done, false);

  // 2. SIGKILL of the whole group, mid hard training.
  b = reproduce(env, argsOf(outB, ["--json"]));
  await waitFor("hard training of seed 1 started", b, () => stepsLogged(join(outB, "hard-seed1")) >= 7);
  process.kill(-b.pid, "SIGKILL");
  const second = await b.exited;
  assert.equal(second.signal, "SIGKILL");
  const events = second.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; stage?: string; status?: string; resumed?: boolean });
  assert.ok(events.some((e) => e.event === "stage" && e.stage === "train-soft-seed1" && e.status === "done" && e.resumed), "soft training of seed 1 continued with --resume");
  assert.ok(events.some((e) => e.event === "stage" && e.stage === "features" && e.status === "skipped"), "the finished features were not redone");
  assert.ok(events.some((e) => e.event === "progress"), "progress events while a stage runs");

  // 3. SIGKILL mid dev selection, once two of its evaluations have finished.
  b = reproduce(env, argsOf(outB));
  await waitFor("two dev evaluations finished", b, () => Object.entries(readState(outB)?.stages ?? {}).filter(([id, s]) => id.startsWith("select-") && s.done).length >= 2);
  process.kill(b.pid, "SIGKILL");
  assert.equal((await b.exited).signal, "SIGKILL");

  // 4. SIGTERM during seed 2's test evaluations (seeds run one after the other): the pipeline
  // stops itself, exit 130, and reports seed 1, the one it has finished.
  b = reproduce(env, argsOf(outB));
  await waitFor("a test evaluation of seed 2 started", b, () => Object.keys(readState(outB)?.stages ?? {}).some((id) => id.startsWith("test-") && id.endsWith("-seed2")));
  process.kill(b.pid, "SIGTERM");
  const stopped = await b.exited;
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /interrupted; rerun the same command to continue \(.*report\.md has the 1 finished seed\)/);
  const partial = JSON.parse(readFileSync(join(outB, "report.json"), "utf8")) as { seeds: number[]; plannedSeeds: number[]; timings: { stages: Record<string, number> } };
  assert.deepEqual([partial.seeds, partial.plannedSeeds], [[1], [1, 2]]);
  const stateNow = readState(outB)!;
  assert.ok(Object.keys(partial.timings.stages).every((id) => stateNow.stages[id]?.done), "the report times finished stages only");
  assert.ok(Object.keys(stateNow.stages).some((id) => !stateNow.stages[id].done), "the stage it stopped in is in the state, unfinished");
  assert.match(readFileSync(join(outB, "report.md"), "utf8"), /\*\*Unfinished run:\*\* 1 of the 2 seeds/);

  // Another --seeds or --data is refused, naming it, before anything runs.
  const otherSeeds = await reproduce(env, ["--data", data, "--out", outB, "--seeds", "1,3"]).exited;
  assert.equal(otherSeeds.code, 2);
  assert.match(otherSeeds.stderr, /^sat: .*--seeds was 1,2, now 1,3.*\n$/);
  const otherData = await reproduce(env, ["--data", join(work, "protocol"), "--out", outB, "--seeds", "1,2"]).exited;
  assert.equal(otherData.code, 2);
  assert.match(otherData.stderr, /--data was .*flickr8k, now/);

  // 5. The same command finishes the run.
  const last = await reproduce(env, argsOf(outB)).exited;
  assert.equal(last.code, 0, last.stderr);
  const done = await straight.exited;
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /soft: test BLEU-4 \(no BP\) \d+\.\d\d ± \d+\.\d\d over 2 seed\(s\)/);

  const reportA = reportOf(outA);
  assert.deepEqual(reportOf(outB), reportA);
  const stateB = readState(outB)!;
  assert.ok(stateB.stages["train-soft-seed1"].attempts >= 2 && stateB.stages["train-hard-seed1"].attempts >= 2, "the killed stages were run again");
  assert.equal(stateB.stages.features.attempts, 1, "a finished stage is never redone");

  // The report holds what the protocol chose and measured, not defaults: both seeds, the
  // paper's rows, a decoding from the grid per model, dev scores for every grid point.
  const variants = reportA.variants as Record<string, { seeds: { seed: number; decoding: { beam: number }; test: { bleu: number[] } }[]; selection: { grid: unknown[] }[] }>;
  for (const v of ["soft", "hard"]) {
    assert.deepEqual(variants[v].seeds.map((s) => s.seed), [1, 2]);
    for (const s of variants[v].seeds) assert.ok([1, 2].includes(s.decoding.beam));
    for (const s of variants[v].selection) assert.equal(s.grid.length, 2);
  }
  assert.ok(variants.soft.seeds.some((s) => s.test.bleu[0] > 0), "the tiny soft models caption the test images with some matching words");
  const md = readFileSync(join(outB, "report.md"), "utf8");
  assert.match(md, /\| Soft-Attention, Xu et al\. 2015 \(no BP\) \| 67 \| 44\.8 \| 29\.9 \| 19\.5 \| 18\.93 \|/);
  assert.match(md, /METEOR \(no paraphrase\)/);
  const curves = readFileSync(join(outB, "curves-soft.svg"), "utf8");
  for (const name of ["seed 1", "seed 2", "mean", "training step"]) assert.ok(curves.includes(name), `curves-soft.svg names ${name}`);
  assert.ok(!existsSync(join(outB, "child.json")), "no stage process left running");

  // Rerun once finished: every stage skipped, same report.
  const again = await reproduce(env, argsOf(outB, ["--json"])).exited;
  assert.equal(again.code, 0, again.stderr);
  const statuses = again.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; status?: string }).filter((e) => e.event === "stage");
  assert.ok(statuses.length > 0 && statuses.every((e) => e.status === "skipped"));
  assert.deepEqual(reportOf(outB), reportA);
});
