// The reproduction protocol, its state file and the report's arithmetic, without running
// anything: the built-in protocol is the README's documented commands, an override file is
// checked field by field, a run's identity is enforced, dev selection and the seed
// statistics are what they say, and a resumed run's log is read without its repeated steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../../src/errors.js";
import { decodingGrid, documentedCommands, FLICKR8K_PROTOCOL, loadProtocol, PROTOCOL_ENV, runLayout, trainArgs } from "../../src/reproduce/flickr8k-protocol.js";
import { selectDecoding, type EvalScores } from "../../src/reproduce/pipeline.js";
import { meanSd, readCurves } from "../../src/reproduce/report.js";
import { openState, saveState, type RunIdentity } from "../../src/reproduce/state.js";

const layout = runLayout("/data/Flickr8k", "/runs/r");

test("the built-in protocol trains with the README's documented flags, plus the seed", () => {
  const p = loadProtocol({});
  assert.equal(p.source, "built-in");
  assert.match(p.hash, /^[0-9a-f]{64}$/);
  const soft = trainArgs(p, layout, "soft", 2);
  // README "Reproduce:" (soft line), with --out per seed and the seed added.
  assert.deepEqual(soft.slice(soft.indexOf("--optimizer")), [
    "--optimizer", "adam", "--lr", "0.0005", "--lr-schedule", "step", "--lr-decay", "0.5", "--lr-decay-every", "3000",
    "--val-every", "500", "--val-images", "500", "--checkpoint-every", "250", "--epochs", "12", "--seed", "2",
  ]);
  assert.ok(soft[soft.indexOf("--config") + 1].endsWith("/configs/flickr8k-soft.json"));
  const hard = trainArgs(p, layout, "hard", 2);
  assert.equal(hard[hard.indexOf("--init") + 1], "/runs/r/soft-seed2/best", "hard attention starts from the same seed's soft model");
  assert.deepEqual(hard.slice(hard.indexOf("--max-steps"), hard.indexOf("--max-steps") + 2), ["--max-steps", "1500"]);
  const lines = documentedCommands(p, layout, 1);
  assert.ok(lines.includes("npx sat features --data /data/Flickr8k --out /runs/r/features"));
  assert.ok(lines.some((l) => l.startsWith("npx sat train --data /data/Flickr8k --features /runs/r/features --out /runs/r/soft-seed1 --config configs/flickr8k-soft.json --optimizer adam")));
  assert.equal(decodingGrid(p).length, FLICKR8K_PROTOCOL.selection.beams.length * FLICKR8K_PROTOCOL.selection.lengthPenalties.length);
});

test("an override protocol resolves its configs beside it; a bad field is named", () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-protocol-"));
  writeFileSync(join(dir, "c.json"), "{}");
  const file = join(dir, "p.json");
  const good = { name: "t", version: 3, soft: { config: "c.json", args: [] }, hard: { config: "c.json", args: ["--max-steps", "2"] }, selection: { beams: [1], lengthPenalties: [0] } };
  writeFileSync(file, JSON.stringify(good));
  const p = loadProtocol({ [PROTOCOL_ENV]: file });
  assert.equal(p.soft.config, join(dir, "c.json"));
  assert.equal(p.version, 3);
  const changed = JSON.stringify({ ...good, hard: { ...good.hard, args: ["--max-steps", "3"] } });
  writeFileSync(file, changed);
  assert.notEqual(loadProtocol({ [PROTOCOL_ENV]: file }).hash, p.hash, "another argument is another protocol");
  writeFileSync(file, JSON.stringify({ ...good, selection: { beams: [0], lengthPenalties: [0] } }));
  assert.throws(() => loadProtocol({ [PROTOCOL_ENV]: file }), (e: Error) => e instanceof UserError && e.message === `${file}: selection.beams: expected a non-empty array of numbers >= 1`);
  writeFileSync(file, JSON.stringify({ ...good, soft: { config: "missing.json", args: [] } }));
  assert.throws(() => loadProtocol({ [PROTOCOL_ENV]: file }), /soft\.config: .*missing\.json: no such file/);
});

test("a run folder refuses other data, seeds or protocol in one line", () => {
  const out = mkdtempSync(join(tmpdir(), "sat-state-"));
  const id: RunIdentity = { protocol: "flickr8k", protocolVersion: 1, protocolHash: "a".repeat(64), data: "/d", seeds: [1, 2] };
  const s = openState(out, id);
  s.stages.features = { seconds: 3, attempts: 1, done: true };
  saveState(out, s);
  assert.equal(openState(out, id).stages.features.done, true);
  const refused = (other: Partial<RunIdentity>, what: RegExp) =>
    assert.throws(() => openState(out, { ...id, ...other }), (e: Error) => e instanceof UserError && what.test(e.message) && !e.message.includes("\n"));
  refused({ seeds: [1, 3] }, /--seeds was 1,2, now 1,3/);
  refused({ data: "/e" }, /--data was \/d, now \/e/);
  refused({ protocolVersion: 2 }, /protocol version was 1, now 2/);
  refused({ protocolHash: "b".repeat(64) }, /protocol \(its arguments or configs\) changed/);
});

test("dev selection takes the best BLEU-4 and breaks ties towards the earlier grid point", () => {
  const scores = (b4: number): EvalScores => ({ bleu: [0.6, 0.4, 0.3, b4], bleu_nobp: [0.6, 0.4, 0.3, b4], meteor: null, rouge_l: 0.4, cider: 0.5 });
  const grid = [
    { decoding: { beam: 3, lengthPenalty: 0 }, dev: scores(0.2) },
    { decoding: { beam: 3, lengthPenalty: 0.7 }, dev: scores(0.22) },
    { decoding: { beam: 5, lengthPenalty: 0 }, dev: scores(0.22) },
    { decoding: { beam: 5, lengthPenalty: 0.7 }, dev: scores(0.21) },
  ];
  assert.deepEqual(selectDecoding(grid), { beam: 3, lengthPenalty: 0.7 });
});

test("meanSd: the sample standard deviation (n - 1), none for one seed", () => {
  assert.deepEqual(meanSd([19, 21]), { mean: 20, sd: Math.SQRT2 });
  assert.deepEqual(meanSd([19.5]), { mean: 19.5, sd: null });
});

test("readCurves keeps one entry per step of a resumed run's log and skips a line cut short", () => {
  const dir = mkdtempSync(join(tmpdir(), "sat-curves-"));
  const log = join(dir, "log.jsonl");
  const step = (s: number, v: number) => JSON.stringify({ type: "step", step: s, nllPerWord: v, entropy: 1 });
  // Steps 1-3 logged, killed after a checkpoint at step 2: step 3 logged again on resume.
  writeFileSync(log, [step(1, 5), step(2, 4), step(3, 3.5), JSON.stringify({ type: "validation", step: 2, bleu4: 0.1 }), '{"type":"st', step(3, 3.5), step(4, 3)].join("\n") + "\n");
  const c = readCurves(log);
  assert.deepEqual(c.loss.map((p) => p.step), [1, 2, 3, 4]);
  assert.deepEqual(c.bleu4, [{ step: 2, value: 0.1 }]);
});
