/**
 * Training checkpoints: everything a resumed run needs to continue bit for bit — the model
 * directory (config, vocabulary, encoder, weights), the optimiser state, the trainer's
 * position (step, epoch, batch, REINFORCE baseline, random state), with `--ema` the moving
 * average of the weights, and for a `sat train` run its record (what it was started with,
 * where selection stands). The folder is replaced as a whole (util/fs.ts replaceDir), so a
 * crash leaves the previous checkpoint or the new one, and loading finds whichever it is.
 *
 * Version 2 added the run record; a version-1 checkpoint is migrated on load, its record
 * rebuilt from what it kept (the fields it never recorded stay absent and go unchecked).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Vocabulary } from "../data/vocab.js";
import { readableDir, replaceDir, writeFileAtomic } from "../util/fs.js";
import type { DecoderEngine, OptimizerSettings } from "../model/engine.js";
import { loadModel, readFloatFile, saveModel, writeFloatFile, ModelFileError, type LoadedModel, type ModelEncoderInfo } from "../model/model-dir.js";
import type { StepTrainer, TrainerState } from "./trainer.js";
import type { SelfCriticalState } from "./self-critical.js";
import { WeightAverage, type WeightAverageState } from "./weight-average.js";
import { encoderName, vocabularyIdentity, type RunIdentity } from "./identity.js";
import type { ValMetric } from "./options.js";

export const CHECKPOINT_FORMAT = "show-attend-tell/checkpoint";
export const CHECKPOINT_VERSION = 2;

/** A `sat train` run's state beyond the trainer's: what it was started with, and its selection. */
export interface RunRecord {
  identity: RunIdentity;
  /** Best validation score so far (-1: none yet) and validations since it. */
  bestScore: number;
  sinceBest: number;
  /** The learning rate the schedule scales. */
  baseLr: number;
}

interface CheckpointFile {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  trainer: TrainerState | SelfCriticalState;
  optimizer: OptimizerSettings;
  optimizerBuffers: number;
  /** The weight average's decay and update count (its values: average.bin); absent without one. */
  average?: WeightAverageState;
  run?: RunRecord;
  extra: Record<string, unknown>;
}

export interface Checkpoint {
  /** The folder it was read from: the checkpoint itself or, mid-swap, its previous copy. */
  dir: string;
  model: LoadedModel;
  trainer: TrainerState | SelfCriticalState;
  optimizer: OptimizerSettings;
  optimizerState: Float32Array[];
  average: WeightAverage | null;
  run: RunRecord | null;
  extra: Record<string, unknown>;
}

export function saveCheckpoint(
  dir: string,
  c: { engine: DecoderEngine; trainer: StepTrainer; vocab: Vocabulary; encoder: ModelEncoderInfo; average?: WeightAverage | null; run?: RunRecord; extra?: Record<string, unknown> },
): void {
  replaceDir(dir, (tmp) => {
    const settings = c.trainer.settings.optimizer;
    saveModel(tmp, { config: c.engine.config, vocab: c.vocab.toJSON(), encoder: c.encoder, training: c.extra, params: Float32Array.from(c.engine.params) });
    const buffers = c.engine.optimizerState(settings.kind);
    buffers.forEach((b, i) => writeFloatFile(join(tmp, `optimizer-${i}.bin`), Float32Array.from(b)));
    if (c.average) writeFloatFile(join(tmp, "average.bin"), c.average.values);
    const meta: CheckpointFile = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      trainer: c.trainer.getState() as TrainerState | SelfCriticalState,
      optimizer: settings,
      optimizerBuffers: buffers.length,
      ...(c.average ? { average: c.average.getState() } : {}),
      ...(c.run ? { run: c.run } : {}),
      extra: c.extra ?? {},
    };
    writeFileAtomic(join(tmp, "checkpoint.json"), JSON.stringify(meta, null, 2) + "\n");
  });
}

/** Version 1 kept the run's state in `extra`, and its identity only implicitly (the model's sizes, encoder, vocabulary). */
function migrateFromVersion1(meta: Omit<CheckpointFile, "version">, model: LoadedModel): CheckpointFile {
  const x = meta.extra;
  const encoder = model.meta.encoder.identity;
  const identity: RunIdentity = {
    objective: x.objective === "self-critical" ? "self-critical" : "xent",
    valMetric: (x.valMetric as ValMetric | undefined) ?? "bleu4",
    ema: meta.average?.decay ?? 0,
    features: { L: model.meta.config.numLocations, D: model.meta.config.featureDim, ...(encoder ? { encoder: encoderName(encoder) } : {}) },
    vocabulary: vocabularyIdentity(model.vocab),
  };
  // Before --val-metric the best score was BLEU-4, kept as bestBleu4.
  const run: RunRecord = { identity, bestScore: Number(x.bestScore ?? x.bestBleu4 ?? -1), sinceBest: Number(x.sinceBest ?? 0), baseLr: Number(x.baseLr ?? meta.optimizer.lr) };
  return { ...meta, version: CHECKPOINT_VERSION, run };
}

export function loadCheckpoint(checkpointDir: string): Checkpoint {
  const dir = readableDir(checkpointDir);
  const metaPath = join(dir, "checkpoint.json");
  let text: string;
  try {
    text = readFileSync(metaPath, "utf8");
  } catch {
    throw new ModelFileError(`${checkpointDir}: no checkpoint here (checkpoint.json not found)`);
  }
  let file: CheckpointFile | (Omit<CheckpointFile, "version"> & { version: 1 });
  try {
    file = JSON.parse(text) as typeof file;
  } catch (e) {
    throw new ModelFileError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (file.format !== CHECKPOINT_FORMAT || (file.version !== 1 && file.version !== CHECKPOINT_VERSION)) {
    throw new ModelFileError(`${metaPath}: not a show-attend-tell checkpoint of version 1 or ${CHECKPOINT_VERSION}`);
  }
  const model = loadModel(dir);
  const meta = file.version === 1 ? migrateFromVersion1(file, model) : file;
  const optimizerState = Array.from({ length: meta.optimizerBuffers }, (_, i) => readFloatFile(join(dir, `optimizer-${i}.bin`), model.params.length).values);
  const average = meta.average ? WeightAverage.restore(meta.average, readFloatFile(join(dir, "average.bin"), model.params.length).values) : null;
  return { dir, model, trainer: meta.trainer, optimizer: meta.optimizer, optimizerState, average, run: meta.run ?? null, extra: meta.extra };
}

/** Puts a checkpoint's optimiser state and position into a freshly built engine and trainer. */
export function restoreCheckpoint(ckpt: Checkpoint, engine: DecoderEngine, trainer: StepTrainer): void {
  engine.params.set(ckpt.model.params);
  const buffers = engine.optimizerState(ckpt.optimizer.kind);
  if (buffers.length !== ckpt.optimizerState.length) throw new ModelFileError(`checkpoint has ${ckpt.optimizerState.length} optimiser buffers, ${ckpt.optimizer.kind} needs ${buffers.length}`);
  buffers.forEach((b, i) => b.set(ckpt.optimizerState[i]));
  trainer.setState(ckpt.trainer);
}
