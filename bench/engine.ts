/**
 * Decoder engine benchmark: one training step (forward + backward + Adam) of the default
 * model (B=64, T=13, L=196, D=1024, m=512, n=1024, A=512, K=8500) with synthetic weights and
 * features (fixed seeds), soft and hard-sample attention, the native engine against the same
 * model in PyTorch (bench/pytorch/sat_step.py) measured side by side in this run: rounds
 * alternate PyTorch and native so that drift in the machine's load hits both. Efficiency is
 * judged against sgemm measured in the same run, on the engine's own shapes, through our BLAS
 * and through PyTorch's.
 *
 * PyTorch: SAT_BENCH_PYTHON, else the venv at $SAT_TORCH_VENV or
 * ~/.cache/show-attend-tell/torch-venv (created with `pip install torch` when missing;
 * SAT_BENCH_NO_INSTALL=1 skips that), else a system python3 with torch, said in the output.
 */
import { cpus, homedir, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveModelConfig, type ModelConfig } from "../src/model/config.js";
import { DEFAULT_OPTIMIZER, type DecoderEngine, type StepMode, type TrainBatch } from "../src/model/engine.js";
import { trainingStepFlops } from "../src/model/flops.js";
import { paramLayout } from "../src/model/layout.js";
import { ReferenceEngine } from "../src/model/reference.js";
import { SeededRandom } from "../src/util/rng.js";
import { createNativeEngine, loadNativeAddon } from "../src/native/engine.js";

const THREADS = 2;
const B = 64;
const T = 13;
/** The engine's GEMM shapes (M x N x K) that the in-run sgemm is measured on. */
const SGEMM_SHAPES: { name: string; M: number; N: number; K: number }[] = [
  { name: "per-step gates [h|z] [U;W_z]", M: 64, N: 4096, K: 2048 },
  { name: "output layer u L_o", M: 832, N: 8500, K: 512 },
  { name: "weight gradient [H|Z]^T dG", M: 2048, N: 4096, K: 832 },
  { name: "square", M: 2048, N: 2048, K: 2048 },
];

interface Stats {
  min: number;
  median: number;
  max: number;
}
function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1] };
}

/** The machine: CPU model, core count, the ISA extensions that matter to fp32/bf16 GEMMs. */
function machine(): { cpu: string; cores: number; isa: string[] } {
  let info = "";
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    info = "";
  }
  const cpu = /model name\s*:\s*(.+)/.exec(info)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown CPU";
  const flags = new Set((/flags\s*:\s*(.+)/.exec(info)?.[1] ?? "").split(/\s+/));
  const isa = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile"].filter((f) => flags.has(f));
  return { cpu, cores: cpus().length, isa };
}

// ---------------------------------------------------------------------------------- PyTorch

interface TorchPython {
  python: string;
  torch: string;
  blas: string;
  /** Where it came from, for the output. */
  origin: string;
}

const script = fileURLToPath(new URL("./pytorch/sat_step.py", import.meta.url));

function probeTorch(python: string): { torch: string; blas: string } | null {
  if (!existsSync(python) && python.includes("/")) return null;
  const r = spawnSync(python, [script, "info"], { encoding: "utf8" });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as { torch: string; blas: string };
  } catch {
    return null;
  }
}

const major = (version: string): number => Number(version.split(".")[0]);

function torchVenv(): string {
  if (process.env.SAT_TORCH_VENV) return process.env.SAT_TORCH_VENV;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "show-attend-tell", "torch-venv");
}

/** The PyTorch to compare with: the user's choice, the bench's venv (made if need be), or the system's. */
function findTorch(say: (line: string) => void): TorchPython | { missing: string } {
  if (process.env.SAT_BENCH_PYTHON) {
    const p = probeTorch(process.env.SAT_BENCH_PYTHON);
    return p ? { python: process.env.SAT_BENCH_PYTHON, ...p, origin: "SAT_BENCH_PYTHON" } : { missing: `SAT_BENCH_PYTHON=${process.env.SAT_BENCH_PYTHON} has no torch` };
  }
  const venv = torchVenv();
  const venvPython = join(venv, "bin", "python");
  let p = probeTorch(venvPython);
  if (!(p && major(p.torch) >= 2) && process.env.SAT_BENCH_NO_INSTALL !== "1") {
    say(`bench: installing PyTorch 2.x into ${venv} (python3 -m venv, then pip install torch; once)`);
    mkdirSync(dirname(venv), { recursive: true });
    if (!existsSync(venvPython)) spawnSync("python3", ["-m", "venv", venv], { stdio: ["ignore", "ignore", "inherit"] });
    if (existsSync(venvPython)) {
      spawnSync(venvPython, ["-m", "pip", "install", "--quiet", "--retries", "1", "--timeout", "15", "torch>=2"], { stdio: ["ignore", "ignore", "inherit"] });
    }
    p = probeTorch(venvPython);
  }
  if (p && major(p.torch) >= 2) return { python: venvPython, ...p, origin: venv };
  for (const python of ["/usr/bin/python3", "python3"]) {
    const s = probeTorch(python);
    if (s) return { python, ...s, origin: `${python}${major(s.torch) >= 2 ? "" : " (not PyTorch 2.x: pip could not install it)"}` };
  }
  return { missing: "no python3 with torch, and pip could not install it" };
}

function torchStepTimes(t: TorchPython, mode: "soft" | "hard", steps: number): number[] {
  const r = spawnSync(t.python, [script, "step", mode, String(steps), String(THREADS)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bench: ${script} step ${mode} failed: ${(r.stderr ?? "").trim().split("\n").pop()}`);
  return (JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as { msPerStep: number[] }).msPerStep;
}

function torchSgemm(t: TorchPython): number[] {
  const r = spawnSync(t.python, [script, "sgemm", String(THREADS), ...SGEMM_SHAPES.map((s) => `${s.M},${s.N},${s.K}`)], { encoding: "utf8" });
  if (r.status !== 0) return SGEMM_SHAPES.map(() => NaN);
  return (JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as { gflops: number }[]).map((x) => x.gflops);
}

// ---------------------------------------------------------------------------------- native

function benchConfig(): ModelConfig {
  return resolveModelConfig({ vocabSize: 8500, embedDim: 512, hiddenDim: 1024, attnDim: 512, featureDim: 1024, numLocations: 196 });
}

/** N(0, 0.01²) weights, biases 0 (U need not be orthogonal for timing). */
function syntheticParams(c: ModelConfig, seed: number): Float32Array {
  const layout = paramLayout(c);
  const p = new Float32Array(layout.total);
  const rng = new SeededRandom(seed);
  for (const s of layout.order) {
    if (s.shape.length < 2 && s.name !== "w_att" && s.name !== "w_beta") continue;
    for (let i = s.offset; i < s.offset + s.size; i++) p[i] = 0.01 * rng.normal();
  }
  return p;
}

function syntheticBatch(c: ModelConfig, batch: number, seed: number): TrainBatch {
  const rng = new SeededRandom(seed);
  const { numLocations: L, featureDim: D, vocabSize: K } = c;
  // Post-ReLU CNN features are nonnegative.
  const features = new Float32Array(batch * L * D);
  for (let i = 0; i < features.length; i++) features[i] = Math.abs(rng.normal());
  const inputs = new Int32Array(batch * T).map(() => 4 + rng.int(K - 4));
  for (let b = 0; b < batch; b++) inputs[b * T] = 1;
  const targets = new Int32Array(batch * T).map(() => 4 + rng.int(K - 4));
  const mask = new Float32Array(batch * T).fill(1);
  return { B: batch, T, features, inputs, targets, mask };
}

/** Per-step milliseconds of `steps` timed steps after `warmup` untimed ones. */
function stepTimes(engine: DecoderEngine, batch: TrainBatch, mode: StepMode, warmup: number, steps: number, step0: number): number[] {
  const times: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    engine.forwardBackward(batch, {
      mode, dropout: 0.5, seed: 1000 + step0 + s, alphaC: 1, reinforceWeight: 0.1, entropyWeight: 0.002, baseline: -60, computeGrad: true,
    });
    engine.optimizerStep(DEFAULT_OPTIMIZER, step0 + s + 1);
    if (s >= warmup) times.push(performance.now() - t0);
  }
  return times;
}

// ---------------------------------------------------------------------------------- the bench

export interface EngineBenchRow {
  name: string;
  config: { B: number; T: number; L: number; D: number; m: number; n: number; A: number; K: number; threads: number };
  steps: number;
  msPerStep: Stats;
  /** B / median ms. */
  captionsPerSec: number;
  /** Step FLOPs (src/model/flops.ts) / median ms. */
  gflops: number;
  /** native rows: captions/s over PyTorch's in the same run, same mode (medians). */
  vsPyTorch?: number;
  /**
   * The same ratio of the two fastest steps: on a shared machine load only adds time, and a
   * disturbed PyTorch median would flatter the median ratio, so both are printed.
   */
  vsPyTorchFastest?: number;
  /** gflops over the best sgemm GFLOP/s measured in this run. */
  sgemmShare?: number;
}

/** Runs the bench, prints it (text, or JSON lines with opts.json) and returns the step rows. */
export async function measureEngineBench(opts: { json: boolean; quick: boolean }): Promise<EngineBenchRow[]> {
  const out = (line: string): void => console.log(line);
  const emit = (obj: object, text: string): void => out(opts.json ? JSON.stringify(obj) : text);
  const c = benchConfig();
  const flops = trainingStepFlops(c, B, T);
  const addon = loadNativeAddon();
  const mc = machine();
  const torch = findTorch((line) => process.stderr.write(`${line}\n`));
  const torchOk = "python" in torch ? torch : null;
  emit(
    { name: "machine", cpu: mc.cpu, cores: mc.cores, isa: mc.isa, loadAvg1: loadavg()[0], blas: addon?.blasInfo() ?? null, threads: THREADS,
      pytorch: torchOk ? { version: torchOk.torch, blas: torchOk.blas, from: torchOk.origin } : null },
    `machine: ${mc.cpu}, ${mc.cores} cores, ISA ${mc.isa.join(" ")}, load average ${loadavg()[0].toFixed(1)} at start\n` +
      `ours: ${addon ? addon.blasInfo() : "native engine not built (npm run build:native)"}, ${THREADS} OpenMP threads (OpenBLAS single-threaded, each GEMM split in ${THREADS})\n` +
      `PyTorch: ${torchOk ? `${torchOk.torch} (BLAS ${torchOk.blas}) from ${torchOk.origin}, ${THREADS} threads` : `not measured (${"missing" in torch ? torch.missing : ""})`}`,
  );

  // In-run sgemm on the engine's shapes.
  let bestSgemm = 0;
  if (addon) {
    const ours = SGEMM_SHAPES.map((s) => addon.sgemmGflops({ M: s.M, N: s.N, K: s.K, reps: opts.quick ? 2 : 5 }));
    const theirs = torchOk ? torchSgemm(torchOk) : SGEMM_SHAPES.map(() => NaN);
    if (!opts.json) out("sgemm GFLOP/s in this run (best of 5): ours (OpenBLAS via the engine's gemm) | PyTorch torch.mm");
    SGEMM_SHAPES.forEach((s, i) => {
      bestSgemm = Math.max(bestSgemm, ours[i], Number.isFinite(theirs[i]) ? theirs[i] : 0);
      emit({ name: "sgemm", shape: s.name, M: s.M, N: s.N, K: s.K, ours: ours[i], pytorch: Number.isFinite(theirs[i]) ? theirs[i] : null },
        `  ${`${s.M}x${s.N}x${s.K}`.padEnd(15)} ${s.name.padEnd(30)} ${ours[i].toFixed(1).padStart(6)} | ${Number.isFinite(theirs[i]) ? theirs[i].toFixed(1) : "-"}`);
    });
  }

  // Training steps: rounds alternate PyTorch and native, soft then hard.
  const rounds = opts.quick ? 1 : 3;
  const steps = opts.quick ? 2 : 3;
  const times: Record<string, number[]> = {};
  const add = (k: string, xs: number[]): void => void (times[k] = [...(times[k] ?? []), ...xs]);
  const native = addon ? createNativeEngine(c, syntheticParams(c, 1)) : null;
  const batch = syntheticBatch(c, B, 2);
  let step0 = 0;
  for (let r = 0; r < rounds; r++) {
    for (const mode of ["soft", "hard"] as const) {
      if (torchOk) add(`pytorch ${mode}`, torchStepTimes(torchOk, mode, steps));
      if (native) {
        add(`native ${mode}`, stepTimes(native, batch, mode === "soft" ? "soft" : "hard-sample", 1, steps, step0));
        step0 += steps + 1;
      }
    }
  }
  native?.dispose();

  const rows: EngineBenchRow[] = [];
  if (!opts.json) {
    out(`training step, default config (B=${B}, T=${T}, K=${c.vocabSize}), forward + backward + Adam, ${THREADS} threads, ${rounds} rounds x ${steps} steps, ms/step min / median / max:`);
  }
  for (const mode of ["soft", "hard"] as const) {
    for (const who of ["pytorch", "native"] as const) {
      const xs = times[`${who} ${mode}`];
      if (!xs) continue;
      const st = stats(xs);
      const row: EngineBenchRow = {
        name: `${who} ${mode}`,
        config: { B, T, L: c.numLocations, D: c.featureDim, m: c.embedDim, n: c.hiddenDim, A: c.attnDim, K: c.vocabSize, threads: THREADS },
        steps: xs.length,
        msPerStep: st,
        captionsPerSec: (B * 1000) / st.median,
        gflops: flops / st.median / 1e6,
      };
      const torchRow = times[`pytorch ${mode}`];
      if (who === "native" && torchRow) {
        row.vsPyTorch = stats(torchRow).median / st.median;
        row.vsPyTorchFastest = stats(torchRow).min / st.min;
      }
      if (bestSgemm > 0) row.sgemmShare = row.gflops / bestSgemm;
      rows.push(row);
      const cps = (ms: number): string => ((B * 1000) / ms).toFixed(1);
      emit(row,
        `  ${row.name.padEnd(13)} ${st.min.toFixed(0)} / ${st.median.toFixed(0)} / ${st.max.toFixed(0)} ms, ` +
          `${row.captionsPerSec.toFixed(1)} captions/s (${cps(st.max)}-${cps(st.min)}), ${row.gflops.toFixed(1)} GFLOP/s` +
          (row.sgemmShare !== undefined ? ` = ${(100 * row.sgemmShare).toFixed(0)}% of the best in-run sgemm ${bestSgemm.toFixed(0)}` : "") +
          (row.vsPyTorch !== undefined
            ? `; ${row.vsPyTorch.toFixed(2)}x PyTorch (medians), ${row.vsPyTorchFastest?.toFixed(2)}x (fastest steps)`
            : ""));
    }
  }
  if (!opts.json && loadavg()[0] > THREADS + 0.5) out(`  [load average ${loadavg()[0].toFixed(1)} at the end: other processes shared the cores]`);

  // The float64 reference is ~2-3 orders of magnitude slower: one caption, one step.
  if (!opts.quick) {
    const ref = new ReferenceEngine(c, Float64Array.from(syntheticParams(c, 1)));
    const refBatch = syntheticBatch(c, 1, 3);
    for (const mode of ["soft", "hard-sample"] as const) {
      const [ms] = stepTimes(ref, refBatch, mode, 0, 1, 0);
      emit({ name: `reference ${mode}`, B: 1, msPerStep: ms, captionsPerSec: 1000 / ms },
        `  reference ${mode === "soft" ? "soft" : "hard"} (float64 TypeScript, B=1, 1 step): ${(ms / 1000).toFixed(1)} s/step, ${(1000 / ms).toFixed(3)} captions/s`);
    }
  }
  return rows;
}

/** The `engine` suite of bench/index.ts. */
export async function runEngineBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  await measureEngineBench(opts);
}
