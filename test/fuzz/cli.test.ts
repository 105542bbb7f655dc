// The user's view of the suite's inputs: garbage given to the `sat` commands exits with
// status 2 and one line on stderr ("sat: <file>: ..."), never 0, never a stack, never a hang
// (each run has a deadline). Some inputs are fixed attacks, some are seeded mutations that
// the library refuses (files.test.ts covers those at volume; here each costs a process).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { UserError } from "../../src/errors.js";
import { readHypotheses } from "../../src/cli/commands/eval.js";
import { Vocabulary } from "../../src/data/vocab.js";
import { resolveModelConfig } from "../../src/model/config.js";
import { initParams } from "../../src/model/init.js";
import { saveModel } from "../../src/model/model-dir.js";
import { mutateBytes, mutateJson, SeededRandom } from "./mutate.js";

const ROOT = resolve(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "sat-fuzz-cli-"));

function sat(args: string[]): { status: number | null; stderr: string; signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/index.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 90_000 });
  return { status: r.status, stderr: r.stderr, signal: r.signal };
}

function refusedByCli(args: string[], names: string): void {
  const r = sat(args);
  const what = `sat ${args.join(" ")}`;
  assert.equal(r.signal, null, `${what}: killed (${r.signal}), a hang`);
  assert.equal(r.status, 2, `${what}: exit ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0], /^sat: /, what);
  assert.ok(lines[0].includes(names), `${what}: ${lines[0]} does not name ${names}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |node:internal|TypeError|RangeError/, what);
}

const refs = join(work, "refs.json");
writeFileSync(refs, JSON.stringify({ "a.jpg": ["a dog runs"], "b.jpg": ["a cat sleeps"] }));
const goodHyps = JSON.stringify([{ image_id: "a.jpg", caption: "a dog" }, { image_id: "b.jpg", caption: "a cat" }]);

test("sat eval: garbage hypotheses and references, a FIFO, a folder as --out", () => {
  // Seeded mutations of a valid hypotheses file, kept when the library refuses them.
  const rng = new SeededRandom(808);
  const garbage: string[] = [];
  for (let i = 0; garbage.length < 2 && i < 500; i++) {
    const p = join(work, `hyps-${garbage.length}.json`);
    writeFileSync(p, rng.next() < 0.5 ? JSON.stringify(mutateJson(rng, JSON.parse(goodHyps))) : mutateBytes(rng, Buffer.from(goodHyps)));
    try {
      readHypotheses(p);
    } catch (e) {
      if (e instanceof UserError) garbage.push(p);
      else throw e;
    }
  }
  assert.equal(garbage.length, 2);
  for (const p of garbage) refusedByCli(["eval", "--hyps", p, "--refs", refs, "--no-meteor"], p);
  const fifo = join(work, "refs-fifo.json");
  execFileSync("mkfifo", [fifo]);
  const good = join(work, "hyps-good.json");
  writeFileSync(good, goodHyps);
  refusedByCli(["eval", "--hyps", good, "--refs", fifo, "--no-meteor"], fifo);
  mkdirSync(join(work, "out-folder"));
  refusedByCli(["eval", "--hyps", good, "--refs", refs, "--no-meteor", "--out", join(work, "out-folder")], "out-folder");
  const binary = join(work, "refs.bin");
  writeFileSync(binary, Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x0a, 0x0d]));
  refusedByCli(["eval", "--hyps", good, "--refs", binary, "--no-meteor"], binary);
});

test("sat eval --data: a caption file with a wordless caption and one with a duplicate image", () => {
  const jsonl = join(work, "data.jsonl");
  writeFileSync(jsonl, '\uFEFF{"image": "a.jpg", "caption": "a dog", "split": "test"}\r\n{"image": "a.jpg", "caption": "...", "split": "test"}\r\n');
  refusedByCli(["eval", "--hyps", join(work, "hyps-good.json"), "--data", jsonl, "--split", "test", "--no-meteor"], `${jsonl}:2: field 'caption' has no words`);
  const karpathy = join(work, "dataset_x.json");
  writeFileSync(karpathy, JSON.stringify({ images: [0, 1].map(() => ({ filename: "a.jpg", split: "test", sentences: [{ raw: "a dog" }] })) }));
  refusedByCli(["eval", "--hyps", join(work, "hyps-good.json"), "--data", karpathy, "--split", "test", "--no-meteor"], "is listed twice");
});

test("sat caption and sat serve: model folders naming files outside themselves, or a FIFO", () => {
  const vocab = Vocabulary.build(["a red circle"]);
  const config = resolveModelConfig({ vocabSize: vocab.size, embedDim: 3, hiddenDim: 3, attnDim: 2, featureDim: 2, numLocations: 4 });
  const model = join(work, "model");
  saveModel(model, { config, vocab: vocab.toJSON(), encoder: { spec: null, name: "t", grid: [2, 2], L: 4, D: 2 }, params: initParams(config, 1) });
  const meta = JSON.parse(readFileSync(join(model, "model.json"), "utf8"));
  execFileSync("mkfifo", [join(model, "fifo.bin")]);
  for (const file of ["../../../../etc/passwd", "fifo.bin"]) {
    writeFileSync(join(model, "model.json"), JSON.stringify({ ...meta, weights: { ...meta.weights, file } }));
    refusedByCli(["caption", model, join(ROOT, "test/fixtures/data/flickr8k")], model);
    // The server's workers load the model too: same check, same line (once is enough for its path).
    if (file === "fifo.bin") refusedByCli(["serve", model, "--port", "0"], model);
  }
});

test("usage errors (unknown command or option, missing or invalid argument) are one line, exit 2; --version is the package's", () => {
  refusedByCli(["nosuch"], "'nosuch'");
  refusedByCli(["caption"], "'model'");
  refusedByCli(["eval", "--beam", "abc"], "--beam");
  refusedByCli(["features", "--data", "x", "--out", "y", "--bogus"], "--bogus");
  const version = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/index.ts"), "--version"], { cwd: ROOT, encoding: "utf8", timeout: 90_000 });
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
});
