/**
 * Decoder engine benchmark: one training step (forward + backward + Adam) of the default
 * model (B=64, T=13, L=196, D=1024, m=512, n=1024, A=512, K=8500) with synthetic weights and
 * features (fixed seeds), native and reference, soft and hard-sample attention.
 */
import { cpus, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolveModelConfig, type ModelConfig } from "../src/model/config.js";
import { DEFAULT_OPTIMIZER, type DecoderEngine, type StepMode, type TrainBatch } from "../src/model/engine.js";
import { trainingStepFlops } from "../src/model/flops.js";
import { paramLayout } from "../src/model/layout.js";
import { ReferenceEngine } from "../src/model/reference.js";
import { SeededRandom } from "../src/model/rng.js";
import { createNativeEngine } from "../src/native/engine.js";

/** FMA peak (fp32, GFLOP/s) of the 2-core machine the project brief measured. */
const DEFAULT_PEAK_GFLOPS = 428;
/** PyTorch 2.13 (MKL, oneDNN), same model and step, 2 threads, as measured for the brief (captions/s). */
const PYTORCH_CAPTIONS_PER_SEC = 79.6;

/**
 * This machine's own fp32 FMA peak: cores x clock x 32 flops/cycle (two 256-bit FMA units).
 * The brief's 428 came from a faster host; on a slower one both numbers are printed.
 */
function localPeakGflops(): number {
  const c = cpus();
  let mhz = c.length ? c[0].speed : 0;
  if (!(mhz > 0)) {
    // Some VMs report speed 0 to libuv; /proc/cpuinfo still has the clock.
    try {
      mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? 0);
    } catch {
      mhz = 0;
    }
  }
  return mhz > 0 ? (c.length * mhz * 32) / 1000 : NaN;
}

/**
 * Runs bench/pytorch/sat_step.py (the same model in PyTorch) when a Python with torch is
 * found (SAT_BENCH_PYTHON, else /usr/bin/python3, else python3), so the baseline is measured
 * on this machine in the same run. Returns captions/s, or null.
 */
function measurePyTorch(quick: boolean): { captionsPerSec: number; version: string; msPerStep: number } | null {
  const script = fileURLToPath(new URL("./pytorch/sat_step.py", import.meta.url));
  for (const py of [process.env.SAT_BENCH_PYTHON, "/usr/bin/python3", "python3"].filter(Boolean) as string[]) {
    const probe = spawnSync(py, ["-c", "import torch"], { stdio: "ignore" });
    if (probe.status !== 0) continue;
    const r = spawnSync(py, [script, quick ? "2" : "4", "2"], { encoding: "utf8" });
    const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
    try {
      const j = JSON.parse(line) as { captionsPerSec: number; torch: string; msPerStep: number };
      return { captionsPerSec: j.captionsPerSec, version: j.torch, msPerStep: j.msPerStep };
    } catch {
      return null;
    }
  }
  return null;
}
const TARGET_CAPTIONS_PER_SEC = 120;

export interface EngineBenchRow {
  name: string;
  config: { B: number; T: number; L: number; D: number; m: number; n: number; A: number; K: number; steps: number };
  msPerStep: number;
  captionsPerSec: number;
  gflops: number;
  peakShare: number;
  peakRssMiB: number;
  /** captionsPerSec / a PyTorch 2.13 figure of 79.6 captions/s measured on a faster host (docs/experiments/flickr8k.md §Speed on the runs' machine). */
  vsPyTorch: number;
  /** captionsPerSec / PyTorch measured in this run on this machine (when torch is installed). */
  vsPyTorchHere?: number;
  /** gflops / this machine's FMA peak (cores x clock x 32). */
  localPeakShare: number;
  /** 1-minute load average when the row was measured: other work on the 2 cores skews it. */
  loadAvg1: number;
  note?: string;
}

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

function syntheticBatch(c: ModelConfig, B: number, T: number, seed: number): TrainBatch {
  const rng = new SeededRandom(seed);
  const { numLocations: L, featureDim: D, vocabSize: K } = c;
  // Post-ReLU CNN features are nonnegative.
  const features = new Float32Array(B * L * D);
  for (let i = 0; i < features.length; i++) features[i] = Math.abs(rng.normal());
  const inputs = new Int32Array(B * T).map(() => 4 + rng.int(K - 4));
  for (let b = 0; b < B; b++) inputs[b * T] = 1;
  const targets = new Int32Array(B * T).map(() => 4 + rng.int(K - 4));
  const mask = new Float32Array(B * T).fill(1);
  return { B, T, features, inputs, targets, mask };
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function timeSteps(engine: DecoderEngine, batch: TrainBatch, mode: StepMode, warmup: number, steps: number): number {
  let t0 = 0;
  for (let s = 0; s < warmup + steps; s++) {
    if (s === warmup) t0 = performance.now();
    engine.forwardBackward(batch, {
      mode, dropout: 0.5, seed: 1000 + s, alphaC: 1, reinforceWeight: 0.1, entropyWeight: 0.002, baseline: -60, computeGrad: true,
    });
    engine.optimizerStep(DEFAULT_OPTIMIZER, s + 1);
  }
  return (performance.now() - t0) / steps;
}

/** Prints the rows (text, or JSON lines with opts.json) and returns them. */
export async function measureEngineBench(opts: { json: boolean; quick: boolean }): Promise<EngineBenchRow[]> {
  const c = benchConfig();
  const peak = Number(process.env.SAT_PEAK_GFLOPS) > 0 ? Number(process.env.SAT_PEAK_GFLOPS) : DEFAULT_PEAK_GFLOPS;
  const T = 13;
  const rows: EngineBenchRow[] = [];
  const localPeak = localPeakGflops();
  const torch = measurePyTorch(opts.quick);
  if (torch) {
    const line = { name: "pytorch soft", torch: torch.version, msPerStep: torch.msPerStep, captionsPerSec: torch.captionsPerSec, gflops: trainingStepFlops(c, 64, T) / torch.msPerStep / 1e6 };
    if (opts.json) console.log(JSON.stringify(line));
    else console.log(`${"pytorch soft".padEnd(22)} B=64 T=${T}: ${torch.msPerStep.toFixed(1)} ms/step, ${torch.captionsPerSec.toFixed(1)} captions/s, ${line.gflops.toFixed(1)} GFLOP/s (torch ${torch.version}, 2 threads, this machine)`);
  } else if (!opts.json) {
    console.log("pytorch: not measured (no python3 with torch; Debian: apt-get install python3-torch)");
  }
  const emit = (name: string, B: number, steps: number, ms: number, note: string): void => {
    if (loadavg()[0] > 1.5) note += ` [load average ${loadavg()[0].toFixed(1)}: other processes share the cores, numbers are low]`;
    const flops = trainingStepFlops(c, B, T);
    const row: EngineBenchRow = {
      name,
      config: { B, T, L: c.numLocations, D: c.featureDim, m: c.embedDim, n: c.hiddenDim, A: c.attnDim, K: c.vocabSize, steps },
      msPerStep: ms,
      captionsPerSec: (B * 1000) / ms,
      gflops: flops / ms / 1e6,
      peakShare: flops / ms / 1e6 / peak,
      peakRssMiB: peakRssMiB(),
      vsPyTorch: (B * 1000) / ms / PYTORCH_CAPTIONS_PER_SEC,
      localPeakShare: flops / ms / 1e6 / localPeak,
      loadAvg1: loadavg()[0],
    };
    if (torch) row.vsPyTorchHere = (B * 1000) / ms / torch.captionsPerSec;
    if (note) row.note = note.trim();
    rows.push(row);
    if (opts.json) {
      console.log(JSON.stringify(row));
    } else {
      console.log(
        `${name.padEnd(22)} B=${B} T=${T}: ${ms.toFixed(1)} ms/step, ${row.captionsPerSec.toFixed(1)} captions/s ` +
          `(${row.vsPyTorchHere !== undefined ? `${row.vsPyTorchHere.toFixed(2)}x PyTorch here, ` : ""}${row.vsPyTorch.toFixed(2)}x the brief's PyTorch ${PYTORCH_CAPTIONS_PER_SEC}), ` +
          `${row.gflops.toFixed(1)} GFLOP/s = ${(100 * row.localPeakShare).toFixed(1)}% of this machine's ${localPeak.toFixed(0)} peak ` +
          `(${(100 * row.peakShare).toFixed(1)}% of the brief's ${peak}), peak RSS ${row.peakRssMiB.toFixed(0)} MiB${note}`,
      );
    }
  };

  const params = syntheticParams(c, 1);
  const B = 64;
  const batch = syntheticBatch(c, B, T, 2);
  const native = createNativeEngine(c, params);
  if (native) {
    const steps = opts.quick ? 3 : 10;
    for (const mode of ["soft", "hard-sample"] as const) {
      const ms = timeSteps(native, batch, mode, 1, steps);
      const name = `native ${mode === "soft" ? "soft" : "hard"}`;
      const cps = (B * 1000) / ms;
      const target = torch ? 1.5 * torch.captionsPerSec : TARGET_CAPTIONS_PER_SEC;
      emit(name, B, steps, ms, cps >= target ? "" : ` [below the 1.5x PyTorch target of ${target.toFixed(0)} captions/s]`);
    }
    native.dispose();
  } else if (!opts.json) {
    console.log("native engine not built: npm run build:native");
  }

  // The float64 reference is ~2-3 orders of magnitude slower: a smaller batch, per-caption rate.
  const refB = opts.quick ? 1 : 2;
  const refBatch = syntheticBatch(c, refB, T, 3);
  const ref = new ReferenceEngine(c, Float64Array.from(params));
  for (const mode of ["soft", "hard-sample"] as const) {
    const ms = timeSteps(ref, refBatch, mode, 0, 1);
    emit(`reference ${mode === "soft" ? "soft" : "hard"}`, refB, 1, ms, ` (reference: B=${refB}, 1 step, no warm-up; rate per caption)`);
  }
  return rows;
}

/** The `engine` suite of bench/index.ts. */
export async function runEngineBench(opts: { json: boolean; quick: boolean }): Promise<void> {
  await measureEngineBench(opts);
}
