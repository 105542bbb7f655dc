/**
 * Captioning speed, on a default-size model (K=8500, n=1024, D=1024, L=196) with fixed-seed
 * random weights, beam 3:
 * - one photo: the decoder alone (one image's features), ResNet-50 alone (onnxruntime-node
 *   where it loads, else tfjs-wasm) on a generated 224x224 photo, and both together from
 *   the PNG's bytes to the caption.
 * - a 1,000-image split: `sat eval --model` (caption with beam search, then score) at this
 *   checkout and at a baseline commit (SAT_BENCH_BASELINE, default b8ab158, built in a
 *   temporary git worktree), timed alternately on the same inputs: synthetic features
 *   (bench/decode-split.ts), not those of real photos. Random weights rarely choose <end>,
 *   so most captions run to the maximum length: the worst case for the decoder.
 * - with --model DIR --features DIR and $SAT_FLICKR8K: the same side by side on the real
 *   Flickr8k test split (1,000 images) with a trained model, whose captions end where the
 *   model emits <end>: the acceptance case of issue 24.
 * Each figure is the fastest repetition, with the range of all. The first line names the
 * CPU, its vector ISA, the thread count, the BLAS the engine uses and the load average.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { resolveModelConfig } from "../src/model/config.js";
import { paramLayout } from "../src/model/layout.js";
import { SeededRandom } from "../src/util/rng.js";
import { createEngine } from "../src/engine/select.js";
import { beamSearch } from "../src/decode/beam.js";
import { beamOptionsFor } from "../src/decode/caption-features.js";
import { loadResNet50Encoder } from "../src/encoder/resnet.js";
import { prepareImage } from "../src/data/images.js";
import { generateScenes, renderScenePng } from "../src/data/synthetic/index.js";
import { loadDataset } from "../src/data/datasets.js";
import { buildDecodeSplit } from "./decode-split.js";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SPLIT_IMAGES = 1000;
/**
 * The least disturbed repetition: on a machine shared with other work, load only ever adds
 * time, so the minimum is the best estimate of the code's own speed (the spread is printed too).
 */
const best = (xs: number[]) => Math.min(...xs);
const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;

/** CPU model, the widest vector ISA it offers, threads, and the BLAS library the addon links. */
export function machineLine(): string {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "").split(/\s+/));
  const isa = ["avx512f", "avx2", "sse4_2"].find((f) => flags.has(f)) ?? "unknown ISA";
  const amx = flags.has("amx_bf16") ? ", AMX-BF16" : "";
  let blas = "BLAS unknown (native engine not built)";
  const addon = join(ROOT, "build/Release/sat_native.node");
  if (existsSync(addon)) {
    const ldd = spawnSync("ldd", [addon], { encoding: "utf8" }).stdout ?? "";
    const lib = /(\S*(?:blas|blis|mkl)\S*) => (\S+)/i.exec(ldd);
    blas = lib ? `${lib[1]} -> ${realpathSync(lib[2])}` : "no BLAS library found by ldd";
  }
  const load = loadavg().map((x) => x.toFixed(1)).join(" ");
  return `machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} threads, ${isa}${amx}; ${blas}; OMP_NUM_THREADS=${process.env.OMP_NUM_THREADS ?? "unset"}; load average ${load}`;
}

interface Row {
  suite: "decode";
  name: string;
  ms: number;
  /** Repetitions' spread (min-max), ms. */
  spread?: string;
  imagesPerSec?: number;
  note?: string;
}

async function onePhoto(reps: number, emit: (r: Row) => void): Promise<void> {
  const config = resolveModelConfig({ vocabSize: 8500 });
  const rng = new SeededRandom(5);
  const params = new Float32Array(paramLayout(config).total).map(() => 0.01 * rng.normal());
  const engine = createEngine(config, params);
  const beam = beamOptionsFor({});
  const encoder = await loadResNet50Encoder();
  const png = await renderScenePng(generateScenes(1, 3)[0]);
  const decodeMs: number[] = [];
  const encodeMs: number[] = [];
  const totalMs: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const img = await prepareImage(png, encoder.preprocess);
    const t1 = performance.now();
    const f = encoder.encode([img.pixels]);
    const t2 = performance.now();
    beamSearch(engine, f, 1, beam);
    const t3 = performance.now();
    if (r === 0) continue; // warm-up: workspaces, ORT arenas, wasm compilation
    encodeMs.push(t2 - t1);
    decodeMs.push(t3 - t2);
    totalMs.push(t3 - t0);
  }
  const backend = encoder.backend === "onnx" ? "onnxruntime-node" : "tfjs-wasm";
  emit({ suite: "decode", name: `1 photo: beam 3 decode (${engine.kind} engine)`, ms: best(decodeMs), spread: range(decodeMs) });
  emit({ suite: "decode", name: `1 photo: ResNet-50 (${backend})`, ms: best(encodeMs), spread: range(encodeMs) });
  emit({ suite: "decode", name: "1 photo: PNG bytes to caption", ms: best(totalMs), spread: range(totalMs), note: "preprocess + ResNet-50 + beam 3" });
  encoder.dispose();
  engine.dispose();
}

/** A checkout of `commit` beside this one, sharing node_modules and (when native/ is unchanged) the built addon. */
function baselineCheckout(commit: string, dir: string): string {
  const tree = join(dir, "baseline");
  execFileSync("git", ["worktree", "add", "--detach", tree, commit], { cwd: ROOT, stdio: "ignore" });
  symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));
  const nativeSame = spawnSync("git", ["diff", "--quiet", commit, "--", "native", "binding.gyp"], { cwd: ROOT }).status === 0;
  if (nativeSame && existsSync(join(ROOT, "build/Release/sat_native.node"))) symlinkSync(join(ROOT, "build"), join(tree, "build"));
  else execFileSync(process.execPath, [join(ROOT, "scripts/build-native.mjs"), "--force"], { env: { ...process.env, SAT_NATIVE_ROOT: tree }, stdio: "ignore" });
  return tree;
}

/**
 * Preloaded into each timed `sat eval`: reports the process's CPU time (all its threads) at
 * exit. Other work on the machine stretches wall time, CPU time much less.
 */
const CPU_REPORTER = `process.on("exit", () => { const u = process.cpuUsage(); process.stderr.write("\\nSAT_BENCH_CPU_S " + (u.user + u.system) / 1e6 + "\\n"); });\n`;

interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** What `sat eval --model` runs on: a model, its feature store and the dataset with a test split. */
interface EvalSplit {
  model: string;
  features: string;
  data: string;
  images: number;
  what: string;
}

function timeEval(cwd: string, split: EvalSplit, captions: string, reporter: string): Timing {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--import", pathToFileURL(reporter).href, "src/cli/index.ts", "eval", "--model", split.model, "--features", split.features, "--data", split.data, "--split", "test", "--beam", "3", "--json", "--save-captions", captions, "--out", `${captions}.scores.json`],
    { cwd, encoding: "utf8" },
  );
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`sat eval in ${cwd} failed (${r.status}): ${r.stderr.trim().split("\n").pop()}`);
  const cpu = /SAT_BENCH_CPU_S ([\d.]+)/.exec(r.stderr);
  return { wallMs, cpuMs: cpu ? 1000 * Number(cpu[1]) : NaN };
}

function readCaptions(file: string): Map<string, string> {
  return new Map(readFileSync(file, "utf8").trim().split("\n").map((l) => {
    const j = JSON.parse(l) as { image_id: string; caption: string };
    return [j.image_id, j.caption];
  }));
}

async function splitSideBySide(reps: number, emit: (r: Row) => void, json: boolean, real: Omit<EvalSplit, "images" | "what"> | null): Promise<void> {
  const baseline = process.env.SAT_BENCH_BASELINE ?? "b8ab158";
  const dir = mkdtempSync(join(tmpdir(), "sat-bench-decode-"));
  let tree: string | null = null;
  try {
    let split: EvalSplit;
    if (real) {
      split = { ...real, images: loadDataset(real.data).images.filter((im) => im.split === "test").length, what: `Flickr8k test split, model ${real.model}` };
    } else {
      const s = await buildDecodeSplit(join(dir, "split"), SPLIT_IMAGES);
      split = { ...s, what: `synthetic features, random weights, K=${s.vocabSize}` };
    }
    tree = baselineCheckout(baseline, dir);
    const reporter = join(dir, "cpu-reporter.mjs");
    writeFileSync(reporter, CPU_REPORTER);
    const times: Record<"baseline" | "this", Timing[]> = { baseline: [], this: [] };
    // ABBA order, so that a load that drifts during the run weighs on both alike.
    const order = Array.from({ length: reps }, (_, r): ("baseline" | "this")[] => (r % 2 === 0 ? ["baseline", "this"] : ["this", "baseline"])).flat();
    for (const which of order) {
      const t = timeEval(which === "this" ? ROOT : tree, split, join(dir, `captions-${which}.jsonl`), reporter);
      times[which].push(t);
      if (!json) console.log(`decode: sat eval --model, ${which === "this" ? "this checkout" : baseline}: ${(t.wallMs / 1000).toFixed(1)} s wall, ${(t.cpuMs / 1000).toFixed(1)} s CPU`);
    }
    const mine = readCaptions(join(dir, "captions-this.jsonl"));
    const theirs = readCaptions(join(dir, "captions-baseline.jsonl"));
    const same = [...mine].filter(([id, c]) => theirs.get(id) === c).length;
    const wall = (w: "baseline" | "this") => times[w].map((x) => x.wallMs);
    const cpu = (w: "baseline" | "this") => times[w].map((x) => x.cpuMs);
    const what = `${split.images} images, beam 3, ${split.what}`;
    for (const w of ["baseline", "this"] as const) {
      const ms = best(wall(w));
      emit({ suite: "decode", name: `sat eval --model at ${w === "this" ? "this checkout" : baseline}`, ms, spread: range(wall(w)), imagesPerSec: (split.images * 1000) / ms, note: `${what}; CPU ${(best(cpu(w)) / 1000).toFixed(1)} s` });
    }
    const speedup = (f: typeof wall) => (best(f("baseline")) / best(f("this"))).toFixed(2);
    emit({ suite: "decode", name: `speed-up over ${baseline}`, ms: 0, note: `${speedup(wall)}x wall clock, ${speedup(cpu)}x CPU time; captions equal for ${same} of ${split.images} images` });
  } finally {
    if (tree) spawnSync("git", ["worktree", "remove", "--force", tree], { cwd: ROOT, stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runDecodeBench(opts: { json: boolean; quick: boolean; model?: string; features?: string }): Promise<void> {
  const emit = (r: Row) => {
    if (opts.json) console.log(JSON.stringify(r));
    else if (r.ms === 0) console.log(`decode ${r.name}: ${r.note}`);
    else {
      const rate = r.imagesPerSec ? `, ${r.imagesPerSec.toFixed(1)} images/s` : "";
      console.log(`decode ${r.name.padEnd(42)} ${r.ms.toFixed(1).padStart(9)} ms (${r.spread})${rate}${r.note ? `; ${r.note}` : ""}`);
    }
  };
  const machine = machineLine();
  if (opts.json) console.log(JSON.stringify({ suite: "decode", machine }));
  else console.log(`decode ${machine}`);
  await onePhoto(opts.quick ? 3 : 7, emit);
  let real: Omit<EvalSplit, "images" | "what"> | null = null;
  if (opts.model) {
    const data = process.env.SAT_FLICKR8K;
    if (!data || !opts.features) throw new Error("decode --model: also give --features DIR (the model's feature store) and set SAT_FLICKR8K to the Flickr8k folder");
    real = { model: resolve(opts.model), features: resolve(opts.features), data: resolve(data) };
  }
  await splitSideBySide(opts.quick ? 1 : 2, emit, opts.json, real);
}
