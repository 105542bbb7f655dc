// The training-run tests' inputs: rendered shapes scenes with captions, and feature stores of
// them made by the shapes encoder (no network weights), small enough for runs of a few seconds.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../../src/data/datasets.js";
import { extractFeatures } from "../../src/features/extract.js";
import { generateSplits, writeImageDataset } from "../../src/data/synthetic/index.js";
import { ShapesEncoder } from "../../src/encoder/shapes.js";
import { DEFAULT_TRAIN_OPTIONS, type TrainRunOptions } from "../../src/train/options.js";

export interface RunFixture {
  work: string;
  /** captions.jsonl of the rendered scenes. */
  data: string;
  /** Feature stores of those scenes: 4 x 4 cells of 32 values, and 3 x 3 cells of 28. */
  store: string;
  otherShapeStore: string;
}

export async function makeRunFixture(seed = 5): Promise<RunFixture> {
  const work = mkdtempSync(join(tmpdir(), "sat-run-"));
  await writeImageDataset(join(work, "shapes"), generateSplits({ train: 24, val: 4, test: 0, seed, maxCaptions: 2 }));
  const data = join(work, "shapes", "captions.jsonl");
  const images = loadDataset(data).images.map((im) => ({ id: im.id, file: im.file }));
  const store = join(work, "features");
  const otherShapeStore = join(work, "features-3x3x28");
  await extractFeatures({ images, out: store, encoder: new ShapesEncoder({ grid: 4, dim: 32 }) });
  await extractFeatures({ images, out: otherShapeStore, encoder: new ShapesEncoder({ grid: 3, dim: 28 }) });
  return { work, data, store, otherShapeStore };
}

/** A short run's options: a tiny model, validation every 5 steps, a checkpoint every 4. */
export function shortRun(f: RunFixture, out: string, extra: Partial<TrainRunOptions> = {}): TrainRunOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    data: f.data,
    features: f.store,
    out,
    model: { embedDim: 8, hiddenDim: 12, attnDim: 8 },
    batchSize: 8,
    optimizer: { ...DEFAULT_TRAIN_OPTIONS.optimizer, kind: "adam", lr: 3e-3 },
    maxSteps: 12,
    valEvery: 5,
    checkpointEvery: 4,
    beamWidth: 1,
    seed: 3,
    onWarning: () => {},
    ...extra,
  };
}

/** A run's log, without the timings (ms, seconds), which differ from run to run. */
export function logWithoutTimings(out: string): Record<string, unknown>[] {
  return readFileSync(join(out, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((line) => {
    const { ms: _ms, seconds: _seconds, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return rest;
  });
}
