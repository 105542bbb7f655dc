// The feature store, end to end on a tiny encoder: extraction with bad images, reading back,
// resuming after SIGKILL and after SIGTERM with byte-identical results, and the CLI.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { UserError } from "../../src/errors.js";
import { loadDataset } from "../../src/data/datasets.js";
import { extractFeatures } from "../../src/features/extract.js";
import { FeatureStore } from "../../src/data/feature-store.js";
import { decodeHalf } from "../../src/data/float16.js";
import { loadImage } from "../../src/data/images.js";
import { loadTfjsEncoder } from "../../src/encoder/encoder.js";
import { buildTinyModel } from "../encoder/tiny-model.js";
import { writeBadImages, writeGoodImages } from "./image-fixtures.js";

const ROOT = resolve(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "sat-fs-"));
const imgDir = join(work, "pngs");

/**
 * A folder of images + a JSONL of {image, caption, split} (the generated task's image variant
 * takes this path): 14 plain PNGs, every awkward-but-valid kind, and every kind of bad file.
 */
const setup = (async () => {
  const model = await buildTinyModel(join(work, "tiny"), 16);
  const good = await writeGoodImages(imgDir, { huge: true });
  const bad = writeBadImages(imgDir);
  const { default: sharp } = await import("sharp");
  const names: string[] = [];
  for (let i = 0; i < 14; i++) {
    const name = `scene-${String(i).padStart(2, "0")}.png`;
    const raw = Buffer.alloc(40 * 30 * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = (k * (i + 3) * 7) & 255;
    await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(join(imgDir, name));
    names.push(name);
  }
  // Bad files in the middle of shards, so good rows around them must stay in order.
  const all = [...names.slice(0, 5), ...Object.keys(bad).slice(0, 3), ...good.map((g) => g.name), ...names.slice(5), ...Object.keys(bad).slice(3)];
  const jsonl = all.map((n, i) => JSON.stringify({ image: `pngs/${n}`, caption: `scene number ${i}`, split: i % 5 === 4 ? "val" : "train" })).join("\n");
  writeFileSync(join(work, "data.jsonl"), jsonl + "\n");
  return { model, bad, total: all.length, badCount: Object.keys(bad).length };
})();

function filesOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n))]));
}

function sat(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("extraction: bad images reported and skipped, features readable by id, rerun is a no-op", async () => {
  const { model, bad, total, badCount } = await setup;
  const enc = await loadTfjsEncoder({ modelPath: model, layer: "mixed" });
  const ds = loadDataset(join(work, "data.jsonl"));
  const out = join(work, "store-api");
  const failed: string[] = [];
  const s = await extractFeatures({ images: ds.images, out, encoder: enc, shardSize: 5, batchSize: 3, onFailed: (f) => failed.push(f.id) });
  assert.equal(s.images, total);
  assert.equal(s.encoded, total - badCount);
  assert.equal(s.failed.length, badCount);
  assert.ok(s.complete && !s.interrupted);
  assert.deepEqual(failed.sort(), Object.keys(bad).map((n) => `pngs/${n}`).sort());
  for (const f of s.failed) assert.match(f.reason, bad[f.id.slice("pngs/".length)], f.id);
  assert.ok(!readdirSync(out).some((n) => n.includes(".tmp-")), "no temporary files left");

  const store = FeatureStore.open(out);
  assert.equal(store.size, total - badCount);
  assert.deepEqual([store.L, store.D], [64, 5]);
  assert.equal(store.encoder.modelSha256, enc.id.modelSha256);
  assert.ok(!store.has("pngs/empty.jpg"));
  assert.deepEqual(store.ids, ds.images.map((im) => im.id).filter((id) => store.has(id)), "store order = dataset order");
  // Every stored row equals a fresh encoding of that image up to float16 rounding
  // (relative 2^-11 on values >= 2^-14, plus 2^-25 absolute below).
  for (const id of ["pngs/scene-00.png", "pngs/alpha.png", "pngs/huge.jpg", "pngs/scene-13.png"]) {
    const im = ds.images.find((x) => x.id === id)!;
    const want = enc.encode([(await loadImage(im.file, enc.preprocess)).pixels]);
    const got = store.read(id);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= Math.abs(want[i]) * 2 ** -11 + 2 ** -25, `${id}[${i}]: ${got[i]} vs ${want[i]}`);
  }
  const ids = ["pngs/scene-13.png", "pngs/scene-00.png"];
  const batch = store.readBatch(ids);
  assert.deepEqual(batch.subarray(0, 320), store.read(ids[0]));
  assert.deepEqual(batch.subarray(320), store.read(ids[1]));
  // The stored bits themselves (what decoding hands the engine) are those float32 values.
  const bits = store.readBatchHalf(ids, new Uint16Array(3 * 320).fill(0xffff).subarray(320));
  assert.deepEqual(decodeHalf(bits, new Float32Array(640)), batch);
  assert.deepEqual(store.readHalf(ids[1], new Uint16Array(330), 10).subarray(10), bits.subarray(320));
  assert.throws(() => store.readBatchHalf(ids, new Uint16Array(639)), RangeError);
  assert.throws(() => store.read("pngs/nope.png"), UserError);
  store.close();

  const before = filesOf(out);
  const again = await extractFeatures({ images: ds.images, out, encoder: enc, shardSize: 5, batchSize: 3 });
  assert.equal(again.encoded, 0);
  assert.equal(again.skippedImages, total);
  assert.deepEqual(filesOf(out), before);
  // A different plan for the same folder is refused rather than mixed in.
  await assert.rejects(extractFeatures({ images: ds.images, out, encoder: enc, shardSize: 4 }), (e: unknown) => e instanceof UserError && /shard size/.test(e.message));
  await assert.rejects(extractFeatures({ images: ds.images.slice(1), out, encoder: enc, shardSize: 5 }), (e: unknown) => e instanceof UserError && /image list/.test(e.message));
  enc.dispose();
});

test("worker threads write the same bytes as one thread", async () => {
  const { model } = await setup;
  const enc = await loadTfjsEncoder({ modelPath: model, layer: "mixed" });
  const ds = loadDataset(join(work, "data.jsonl"));
  const one = join(work, "store-1");
  const two = join(work, "store-2");
  const spec = { kind: "tfjs" as const, modelPath: model, layer: "mixed", normalisation: enc.id.normalisation };
  const progress: number[] = [];
  await extractFeatures({ images: ds.images, out: one, encoder: enc, shardSize: 5, batchSize: 3 });
  const s = await extractFeatures({ images: ds.images, out: two, encoder: enc, shardSize: 5, batchSize: 3, workers: 2, encoderSpec: spec, onProgress: (p) => progress.push(p.done) });
  assert.equal(s.workers, 2);
  assert.ok(s.complete);
  assert.equal(progress[progress.length - 1], ds.images.length, "progress reaches the total");
  assert.deepEqual(filesOf(two), filesOf(one));
  enc.dispose();
});

/** Starts `sat features` slowed down; resolves once `file` appears in `out`, then sends `signal`. */
async function runAndSignal(args: string[], out: string, file: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/index.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, sig) => r({ code, signal: sig })));
  for (;;) {
    if (existsSync(join(out, file))) break;
    if (child.exitCode !== null) throw new Error("sat features finished before it could be interrupted");
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill(signal);
  return { ...(await exited), stdout };
}

test("sat features: killed halfway (SIGKILL) or stopped (SIGTERM), a rerun ends with the same bytes", async () => {
  const { model, total, badCount } = await setup;
  const data = join(work, "data.jsonl");
  const common = ["--data", data, "--encoder", model, "--layer", "mixed", "--shard-size", "4", "--batch-size", "2"];

  const ref = join(work, "cli-ref");
  const r = sat(["features", ...common, "--out", ref]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`features complete: ${total} images, ${total - badCount} encoded, ${badCount} skipped as bad`));
  assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("sat: skipped ")).length, badCount, "one stderr line per bad image");
  assert.ok(!/features \[/.test(r.stderr), "no progress bar when stderr is a pipe");

  // SIGKILL once shard 1 is complete: the throttle makes each batch take 300 ms, so the kill
  // lands while shard 2 is being computed.
  const killed = join(work, "cli-killed");
  const k = await runAndSignal(["features", ...common, "--out", killed, "--throttle-ms", "300"], killed, "shard-00001.json", "SIGKILL");
  assert.equal(k.signal, "SIGKILL");
  assert.ok(!existsSync(join(killed, "manifest.json")), "the killed run must not look complete");
  // Shards 0 and 1 hold 5 good images (3 bad files sit in shard 1).
  const partial = FeatureStore.open(killed, { allowPartial: true });
  assert.ok(!partial.complete && partial.size >= 5 && partial.size < total - badCount, `partial store holds ${partial.size}`);
  assert.throws(() => FeatureStore.open(killed), /has not finished/);
  const resumed = sat(["features", ...common, "--out", killed]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /already done \([1-9]\d*\/\d+ shards\)/);
  assert.deepEqual(filesOf(killed), filesOf(ref), "resumed store differs from an uninterrupted one");

  // SIGTERM: stops after the current batch, drops the unfinished shard, exits 130.
  const stopped = join(work, "cli-stopped");
  const s = await runAndSignal(["features", ...common, "--out", stopped, "--throttle-ms", "300"], stopped, "shard-00000.json", "SIGTERM");
  assert.equal(s.code, 130);
  assert.match(s.stdout, /interrupted: rerun/);
  assert.ok(!readdirSync(stopped).some((n) => n.includes(".tmp-")), "no temporary files after a clean stop");
  assert.equal(sat(["features", ...common, "--out", stopped]).status, 0);
  assert.deepEqual(filesOf(stopped), filesOf(ref));
});

test("sat features: input errors are one line and exit 2", async () => {
  const { model } = await setup;
  const r = sat(["features", "--data", join(work, "nope.jsonl"), "--out", join(work, "x")]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^sat: .*nope\.jsonl: no such file or folder\n$/);
  const r2 = sat(["features", "--data", join(work, "data.jsonl"), "--out", join(work, "y"), "--encoder", model]);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /--layer is required/);
});
