/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit — the model
 * directory (config, vocabulary, encoder, weights), the optimiser state, the trainer's
 * position (step, epoch, batch, REINFORCE baseline, random state) and, with `--ema`, the
 * moving average of the weights. A checkpoint is written
 * into `<dir>.tmp`, then swapped in by two renames, so a crash leaves the previous checkpoint
 * (in `<dir>` or, mid-swap, in `<dir>.old`, which loading falls back to) or the new one.
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Vocabulary } from "../data/vocab.js";
import { writeFileAtomic } from "../util/fs.js";
import type { DecoderEngine, OptimizerSettings } from "../model/engine.js";
import { loadModel, readFloatFile, saveModel, writeFloatFile, ModelFileError, type LoadedModel, type ModelEncoderInfo } from "../model/model-dir.js";
import type { StepTrainer, TrainerState } from "./trainer.js";
import type { SelfCriticalState } from "./self-critical.js";
import { WeightAverage, type WeightAverageState } from "./weight-average.js";

export const CHECKPOINT_FORMAT = "show-attend-tell/checkpoint";

interface CheckpointFile {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  trainer: TrainerState | SelfCriticalState;
  optimizer: OptimizerSettings;
  optimizerBuffers: number;
  /** The weight average's decay and update count (its values: average.bin); absent without one. */
  average?: WeightAverageState;
  extra: Record<string, unknown>;
}

export interface Checkpoint {
  model: LoadedModel;
  trainer: TrainerState | SelfCriticalState;
  optimizer: OptimizerSettings;
  optimizerState: Float32Array[];
  average: WeightAverage | null;
  extra: Record<string, unknown>;
}

export function saveCheckpoint(
  dir: string,
  c: { engine: DecoderEngine; trainer: StepTrainer; vocab: Vocabulary; encoder: ModelEncoderInfo; average?: WeightAverage | null; extra?: Record<string, unknown> },
): void {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  rmSync(tmp, { recursive: true, force: true });
  const settings = c.trainer.settings.optimizer;
  saveModel(tmp, { config: c.engine.config, vocab: c.vocab.toJSON(), encoder: c.encoder, training: c.extra, params: Float32Array.from(c.engine.params) });
  const buffers = c.engine.optimizerState(settings.kind);
  buffers.forEach((b, i) => writeFloatFile(join(tmp, `optimizer-${i}.bin`), Float32Array.from(b)));
  if (c.average) writeFloatFile(join(tmp, "average.bin"), c.average.values);
  const meta: CheckpointFile = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    trainer: c.trainer.getState() as TrainerState | SelfCriticalState,
    optimizer: settings,
    optimizerBuffers: buffers.length,
    ...(c.average ? { average: c.average.getState() } : {}),
    extra: c.extra ?? {},
  };
  writeFileAtomic(join(tmp, "checkpoint.json"), JSON.stringify(meta, null, 2) + "\n");
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

export function loadCheckpoint(dir: string): Checkpoint {
  const from = existsSync(join(dir, "checkpoint.json")) ? dir : existsSync(join(`${dir}.old`, "checkpoint.json")) ? `${dir}.old` : null;
  if (!from) throw new ModelFileError(`${dir}: no checkpoint here (checkpoint.json not found)`);
  const metaPath = join(from, "checkpoint.json");
  let meta: CheckpointFile;
  try {
    meta = JSON.parse(readFileSync(metaPath, "utf8")) as CheckpointFile;
  } catch (e) {
    throw new ModelFileError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || meta.version !== 1) throw new ModelFileError(`${metaPath}: not a version 1 show-attend-tell checkpoint`);
  const model = loadModel(from);
  const optimizerState = Array.from({ length: meta.optimizerBuffers }, (_, i) => readFloatFile(join(from, `optimizer-${i}.bin`), model.params.length).values);
  const average = meta.average ? WeightAverage.restore(meta.average, readFloatFile(join(from, "average.bin"), model.params.length).values) : null;
  return { model, trainer: meta.trainer, optimizer: meta.optimizer, optimizerState, average, extra: meta.extra };
}

/** Puts a checkpoint's optimiser state and position into a freshly built engine and trainer. */
export function restoreCheckpoint(ckpt: Checkpoint, engine: DecoderEngine, trainer: StepTrainer): void {
  engine.params.set(ckpt.model.params);
  const buffers = engine.optimizerState(ckpt.optimizer.kind);
  if (buffers.length !== ckpt.optimizerState.length) throw new ModelFileError(`checkpoint has ${ckpt.optimizerState.length} optimiser buffers, ${ckpt.optimizer.kind} needs ${buffers.length}`);
  buffers.forEach((b, i) => b.set(ckpt.optimizerState[i]));
  trainer.setState(ckpt.trainer);
}
