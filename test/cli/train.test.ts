// `sat train` end to end on the generated task's image variant: rendered PNGs + captions.jsonl,
// features from a tiny tfjs encoder (sat features), then training with validation, the best
// model saved, a JSONL log, a checkpoint, and --resume continuing from the step it stopped at.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTinyModel } from "../encoder/tiny-model.js";
import { generateSplits, writeImageDataset } from "../../src/data/synthetic/index.js";
import { loadModel, readFloatFile } from "../../src/model/model-dir.js";
import { initParams } from "../../src/model/init.js";
import { paramLayout, view } from "../../src/model/layout.js";

const root = new URL("../..", import.meta.url).pathname;
function sat(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/cli/index.ts"), ...args], { cwd: root, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A run's log.jsonl, one object per line. */
interface LogEntry { type: string; step?: number; lr?: number; loss?: number; nllPerWord?: number; bleu4?: number; from?: string }
function readLog(run: string): LogEntry[] {
  return readFileSync(join(run, "log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as LogEntry);
}

/** `sat eval --model` on the validation split (no METEOR), which must succeed: its scores. */
function evalModel(model: string, store: string, data: string, extra: string[]): { bleu: number[] } {
  const r = sat(["eval", "--model", model, "--features", store, "--data", data, "--split", "val", "--no-meteor", "--json", ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { bleu: number[] };
}

/** The model sizes of these runs (see shapesWithFeatures). */
const SMALL_MODEL = { embedDim: 32, hiddenDim: 64, attnDim: 32 };

/**
 * A work folder with the shapes images + captions, their features from a tiny encoder, and a
 * small model config: these tests check what `sat train` does with its flags, and the default
 * sizes (n = 1024) would spend most of their time initialising a model's orthogonal blocks.
 */
async function shapesWithFeatures(): Promise<{ work: string; data: string; store: string; config: string }> {
  const work = mkdtempSync(join(tmpdir(), "sat-train-"));
  await writeImageDataset(join(work, "shapes"), generateSplits({ train: 40, val: 8, test: 0, seed: 3, maxCaptions: 2 }));
  const data = join(work, "shapes", "captions.jsonl");
  const encoder = await buildTinyModel(join(work, "tiny"), 16);
  const store = join(work, "features");
  const f = sat(["features", "--data", data, "--out", store, "--encoder", encoder, "--layer", "mixed"]);
  assert.equal(f.status, 0, f.stderr);
  const config = join(work, "small.json");
  writeFileSync(config, JSON.stringify(SMALL_MODEL));
  return { work, data, store, config };
}

test("sat train: validation, best model, log, checkpoint and exact resume", async () => {
  const { work, data, store, config } = await shapesWithFeatures();

  const run = join(work, "run");
  const common = ["train", "--data", data, "--features", store, "--config", config, "--out", run, "--batch-size", "8", "--val-every", "10", "--checkpoint-every", "10", "--beam", "1", "--optimizer", "adam", "--lr", "0.003", "--lr-schedule", "step", "--lr-decay", "0.5", "--lr-decay-every", "15"];
  const first = sat([...common, "--max-steps", "20"]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /stopped after 20 steps \(max-steps\); best validation BLEU-4 \d+\.\d\d/);
  // Started again without --resume, into the same --out: refused, the run left as it was.
  const ckptFile = join(run, "checkpoint", "checkpoint.json");
  const before = readFileSync(ckptFile);
  const again = sat([...common, "--max-steps", "20"]);
  assert.notEqual(again.status, 0);
  assert.match(again.stderr.trim(), /^sat: .*run: already holds a training run \(.*checkpoint\); continue it with --resume/);
  assert.equal(again.stderr.trim().split("\n").length, 1, again.stderr);
  assert.deepEqual(readFileSync(ckptFile), before, "the checkpoint is untouched");
  const best = loadModel(join(run, "best"));
  assert.equal(best.meta.config.numLocations, 64);
  assert.equal(best.meta.config.featureDim, 5);
  assert.ok(best.vocab.has("circle"));

  const resumed = sat([...common, "--max-steps", "30", "--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /stopped after 30 steps/);
  const entries = readLog(run);
  // Step schedule, resumed from the checkpoint at step 20: 0.003 for steps 1-15, 0.0015 after.
  for (const e of entries.filter((x) => x.type === "step")) assert.equal(e.lr, e.step! <= 15 ? 0.003 : 0.0015, `lr at step ${e.step}`);
  const steps = entries.filter((e) => e.type === "step").map((e) => e.step);
  assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1), "the resumed run continues at step 21");
  const vals = entries.filter((e) => e.type === "validation");
  assert.deepEqual(vals.map((v) => v.step), [10, 20, 30]);
  for (const v of vals) assert.ok(v.bleu4! >= 0 && v.bleu4! <= 1);

  // `sat eval --model` decodes the split the way validation does: scoring best/ on the same
  // images with the same beam gives back the best validation BLEU-4 exactly.
  const captionsFile = join(work, "val-captions.jsonl");
  const scored = evalModel(join(run, "best"), store, data, ["--beam", "1", "--save-captions", captionsFile]);
  assert.equal(scored.bleu[3], Math.max(...vals.map((v) => v.bleu4!)));
  assert.equal(readFileSync(captionsFile, "utf8").trim().split("\n").length, 8, "one caption per validation image");
  const rescored = sat(["eval", captionsFile, "--data", data, "--split", "val", "--no-meteor", "--json"]);
  assert.deepEqual(JSON.parse(rescored.stdout), scored, "the saved captions score the same");

  // Training curves, redrawn at each validation from the whole log: 3 panels, 3 BLEU points.
  const svg = readFileSync(join(run, "curves.svg"), "utf8");
  assert.equal((svg.match(/aria-roledescription="line mark container"/g) ?? []).length, 3);
  // Vega labels every drawn point with its data: the validations sit at their steps.
  const bleuPoints = [...svg.matchAll(/aria-label="training step: (\d+); validation BLEU-4 \(x100\): [^"]*" role="graphics-symbol" aria-roledescription="point"/g)].map((m) => Number(m[1]));
  assert.deepEqual(bleuPoints, [10, 20, 30]);

  // The same 30 steps without the interruption give the same losses.
  const straight = sat(["train", ...common.slice(1).map((a) => (a === run ? join(work, "run2") : a)), "--max-steps", "30"]);
  assert.equal(straight.status, 0, straight.stderr);
  const losses = (r: string) => readLog(r).filter((e) => e.type === "step").map((e) => e.loss);
  assert.deepEqual(losses(run), losses(join(work, "run2")));

  // --init: hard attention starting from the trained soft model begins where it left off, keeps
  // its vocabulary, and refuses other sizes. A fresh model's first loss is about ln K (uniform
  // predictions); best/ (a few dozen steps) starts ~0.35 nats/word lower, on the same batch.
  const tuned = join(work, "tuned");
  const fromBest = sat(["train", ...common.slice(1).map((a) => (a === run ? tuned : a)), "--max-steps", "2", "--attention", "hard", "--init", join(run, "best")]);
  assert.equal(fromBest.status, 0, fromBest.stderr);
  const tunedLog = readLog(tuned);
  assert.deepEqual(tunedLog[0], { type: "init", from: join(run, "best"), attention: "soft" });
  const firstNll = (entries: LogEntry[]) => entries.find((e) => e.type === "step" && e.step === 1)!.nllPerWord!;
  const freshLog = readLog(join(work, "run2"));
  assert.ok(firstNll(tunedLog) < firstNll(freshLog) - 0.2, `step-1 loss/word from --init ${firstNll(tunedLog)} vs fresh ${firstNll(freshLog)}`);
  assert.deepEqual(loadModel(join(tuned, "checkpoint")).vocab.words, best.vocab.words);
  assert.equal(loadModel(join(tuned, "checkpoint")).meta.config.attention, "hard");
  // The run ends at --max-steps 2, off the --val-every 10 grid: its final weights are still
  // validated (the first validation always becomes best/).
  assert.deepEqual(tunedLog.filter((e) => e.type === "validation").map((e) => e.step), [2]);
  assert.equal(loadModel(join(tuned, "best")).meta.training.step, 2);

  // Validation decodes with --beam and --length-penalty exactly as `sat eval --model` does with
  // the same flags; the same model without the penalty scores differently, so the equality
  // shows the penalty reached validation. Learning rate 1e-9 keeps best/'s weights, whose
  // captions a strong penalty lengthens.
  const penalised = join(work, "penalised");
  const lp = sat(["train", ...common.slice(1).map((a) => (a === run ? penalised : a)), "--max-steps", "1", "--lr", "1e-9", "--init", join(run, "best"), "--beam", "3", "--length-penalty", "2"]);
  assert.equal(lp.status, 0, lp.stderr);
  const lpVal = readLog(penalised).find((e) => e.type === "validation")!;
  const evalBleu4 = (extra: string[]) => evalModel(join(penalised, "best"), store, data, ["--beam", "3", "--save-captions", join(work, "lp-captions.jsonl"), ...extra]).bleu[3];
  assert.equal(evalBleu4(["--length-penalty", "2"]), lpVal.bleu4);
  assert.notEqual(evalBleu4([]), lpVal.bleu4);
  const cfg = join(work, "wide.json");
  writeFileSync(cfg, JSON.stringify({ ...SMALL_MODEL, hiddenDim: 40 }));
  const mismatch = sat(["train", ...common.slice(1).map((a) => (a === run ? join(work, "bad") : a)), "--max-steps", "1", "--config", cfg, "--init", join(run, "best")]);
  assert.equal(mismatch.status, 2);
  assert.match(mismatch.stderr, /^sat: --init .*best: hiddenDim is \d+ there but 40 in this run's config\n$/);

  // --gate-bias sets the fresh model's b_beta and --hold-gate keeps it there (and w_beta at its
  // initial values) through the held steps, while the rest trains.
  const held = join(work, "held");
  const hold = sat(["train", ...common.slice(1).map((a) => (a === run ? held : a)), "--max-steps", "3", "--attention", "hard", "--hold-gate", "3", "--gate-bias", "3"]);
  assert.equal(hold.status, 0, hold.stderr);
  assert.deepEqual(readLog(held).find((e) => e.type === "gate"), { type: "gate", holdSteps: 3, bias: 3 });
  const heldModel = loadModel(join(held, "checkpoint"));
  const layout = paramLayout(heldModel.meta.config);
  assert.deepEqual(view(heldModel.params, layout, "b_beta"), Float32Array.of(3));
  const fresh = initParams(heldModel.meta.config, 1);
  assert.deepEqual(view(heldModel.params, layout, "w_beta"), view(fresh, layout, "w_beta"));
  assert.notDeepEqual(view(heldModel.params, layout, "w_att"), view(fresh, layout, "w_att"));
});

test("sat train: a config naming a data-derived field is refused in one line", async () => {
  const r = sat(["train", "--data", "x.jsonl", "--features", "y", "--out", "z", "--config", "/nonexistent.json"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^sat: \/nonexistent\.json: cannot read/);
});

test("sat train --ema: validation and best/ use the moving average of the weights, which --resume continues exactly", async () => {
  const { work, data, store, config } = await shapesWithFeatures();
  const args = (out: string) => ["train", "--data", data, "--features", store, "--config", config, "--out", out, "--batch-size", "8", "--val-every", "20", "--checkpoint-every", "10", "--beam", "1", "--optimizer", "adam", "--lr", "0.003", "--ema", "0.5"];
  const straight = join(work, "straight");
  const val20 = (run: string) => readLog(run).find((e) => e.type === "validation" && e.step === 20)!.bleu4;
  const r = sat([...args(straight), "--max-steps", "20"]);
  assert.equal(r.status, 0, r.stderr);
  // One validation (step 20), so best/ holds the average at step 20: the checkpoint's
  // average.bin, not its live weights.
  const best = loadModel(join(straight, "best"));
  assert.equal(best.meta.training.ema, 0.5);
  const average = readFloatFile(join(straight, "checkpoint", "average.bin"), best.params.length).values;
  const live = loadModel(join(straight, "checkpoint")).params;
  assert.deepEqual(best.params, average);
  assert.notDeepEqual(best.params, live);
  // ...and validation decoded with them: sat eval of best/ gives back its BLEU-4 (not 0, so the
  // equality says something).
  assert.ok(val20(straight)! > 0);
  assert.equal(evalModel(join(straight, "best"), store, data, ["--beam", "1", "--save-captions", join(work, "ema-captions.jsonl")]).bleu[3], val20(straight));

  // Stopped at step 10 and resumed: the same average at step 20, bit for bit.
  const split = join(work, "split");
  assert.equal(sat([...args(split), "--max-steps", "10"]).status, 0);
  const wrong = sat([...args(split).filter((a, i, all) => a !== "--ema" && all[i - 1] !== "--ema"), "--max-steps", "20", "--resume"]);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /^sat: .*checkpoint: the run was averaging weights with --ema 0\.5; resume it with --ema 0\.5\n$/);
  const resumed = sat([...args(split), "--max-steps", "20", "--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(readFloatFile(join(split, "checkpoint", "average.bin"), average.length).values, average);
  assert.equal(val20(split), val20(straight));

  const bad = sat([...args(join(work, "bad")), "--ema", "1"]);
  assert.equal(bad.status, 2, "a usage error exits 2, as any refused input");
  assert.match(bad.stderr, /--ema must be a number in \[0, 1\) \(got "1"\)/);
});

test("sat train --objective self-critical: fine-tunes an --init model on its sampled captions' reward, resumes only as such", async () => {
  const { work, data, store, config } = await shapesWithFeatures();
  const base = ["--data", data, "--features", store, "--config", config, "--batch-size", "8", "--val-every", "10", "--checkpoint-every", "5", "--beam", "1", "--optimizer", "adam", "--lr", "0.003"];
  const xent = join(work, "xent");
  assert.equal(sat(["train", ...base, "--out", xent, "--max-steps", "20"]).status, 0);
  const sc = join(work, "sc");
  const scArgs = ["train", ...base, "--out", sc, "--objective", "self-critical", "--samples", "4", "--reward", "cider+meteor", "--val-metric", "bleu4+meteor", "--init", join(xent, "best")];
  const r = sat([...scArgs, "--max-steps", "5"]);
  assert.equal(r.status, 0, r.stderr);
  const resumed = sat([...scArgs, "--max-steps", "10", "--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const steps = readLog(sc).filter((e) => e.type === "step") as (LogEntry & { reward?: number; mode?: string })[];
  assert.deepEqual(steps.map((e) => e.step), Array.from({ length: 10 }, (_, i) => i + 1));
  // Each step logs the mean CIDEr-D of its samples: 2 images x 4 samples of the shapes task.
  for (const e of steps) assert.ok(e.reward! >= 0 && e.reward! < 10 && e.mode === "soft", JSON.stringify(e));
  assert.ok(new Set(steps.map((e) => e.reward)).size > 5);
  // Validated at the end of each invocation (step 5, off the grid) and at step 10, selecting
  // by BLEU-4 + METEOR (--val-metric): best/ is the step with the higher sum.
  const vals = readLog(sc).filter((e) => e.type === "validation") as (LogEntry & { meteor: number; score: number; best: number })[];
  assert.deepEqual(vals.map((e) => e.step), [5, 10]);
  for (const v of vals) assert.ok(v.meteor > 0 && Math.abs(v.score - (v.bleu4! + v.meteor)) < 1e-12, JSON.stringify(v));
  const top = vals.reduce((a, b) => (b.score > a.score ? b : a));
  assert.equal(vals[1].best, top.score);
  const bestMeta = loadModel(join(sc, "best")).meta.training;
  assert.equal(bestMeta.step, top.step);
  assert.equal(bestMeta.valMetric, "bleu4+meteor");
  const otherMetric = sat([...scArgs.map((a) => (a === "bleu4+meteor" ? "bleu4" : a)), "--max-steps", "12", "--resume"]);
  assert.equal(otherMetric.status, 2);
  assert.match(otherMetric.stderr, /^sat: .*checkpoint: the run selects by --val-metric bleu4\+meteor; resume it with that\n$/);

  // Interrupted at step 5 and resumed, it matches the uninterrupted 10 steps.
  const straight = join(work, "sc-straight");
  assert.equal(sat([...scArgs.map((a) => (a === sc ? straight : a)), "--max-steps", "10"]).status, 0);
  const losses = (run: string) => readLog(run).filter((e) => e.type === "step").map((e) => e.loss);
  assert.deepEqual(losses(sc), losses(straight));

  const wrong = sat(["train", ...base, "--out", sc, "--max-steps", "12", "--resume"]);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /^sat: .*checkpoint: the run was started with --objective self-critical; resume it with that\n$/);
  const noInit = sat(["train", ...base, "--out", join(work, "x"), "--objective", "self-critical"]);
  assert.equal(noInit.status, 2);
  assert.match(noInit.stderr, /^sat: --objective self-critical fine-tunes a trained model: pass --init <model>\n$/);
  const badReward = sat([...scArgs.map((a) => (a === sc ? join(work, "z") : a)), "--reward", "cider+bleu"]);
  assert.equal(badReward.status, 2);
  assert.match(badReward.stderr, /^sat: --reward cider\+bleu: cannot read "bleu": terms are cider or meteor/);
  const one = sat([...scArgs.map((a) => (a === sc ? join(work, "y") : a)), "--samples", "1"]);
  assert.equal(one.status, 2);
  assert.match(one.stderr, /^sat: --samples 1: self-critical training needs at least 2 captions per image/);
});

test("sat train: the end-of-run validation off the --val-every grid does not count against patience, so a resumed run stops where the longer run does", async () => {
  const { work, data, store, config } = await shapesWithFeatures();
  // Learning rate 1e-9 keeps the weights: every validation scores the same, and only the first improves.
  const args = (out: string) => ["train", "--data", data, "--features", store, "--config", config, "--out", join(work, out), "--batch-size", "8", "--val-every", "10", "--checkpoint-every", "5", "--beam", "1", "--lr", "1e-9", "--patience", "2"];
  const straight = sat([...args("straight"), "--max-steps", "40"]);
  assert.equal(straight.status, 0, straight.stderr);
  assert.match(straight.stdout, /stopped after 30 steps \(patience\)/);
  const first = sat([...args("split"), "--max-steps", "15"]);
  assert.equal(first.status, 0, first.stderr);
  const resumed = sat([...args("split"), "--max-steps", "40", "--resume"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  // Validated at 10, at 15 (the first invocation's end) and at 20 and 30: counting the one at 15
  // would have run out of patience at step 20.
  assert.deepEqual(readLog(join(work, "split")).filter((e) => e.type === "validation").map((e) => e.step), [10, 15, 20, 30]);
  assert.match(resumed.stdout, /stopped after 30 steps \(patience\)/);
});
