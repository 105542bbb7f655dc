/**
 * Resuming a run (`--resume`): its checkpoint (migrated to the current version on load), one
 * check that this invocation was given what the run was started with, and the start it gives.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { readableDir } from "../util/fs.js";
import { loadCheckpoint, type Checkpoint, type RunRecord } from "./checkpoint.js";
import { checkRunIdentity, runIdentity } from "./identity.js";
import type { TrainRunOptions } from "./options.js";
import type { RunData, RunStart } from "./setup.js";

export interface Resumed {
  ckpt: Checkpoint;
  record: RunRecord;
  start: RunStart;
}

export function checkpointDir(out: string): string {
  return join(out, "checkpoint");
}

/**
 * A new run must not start over an earlier one: its fresh checkpoint, log and best/ would
 * replace the earlier run's, which --resume could still have continued.
 */
export function checkFreshOut(out: string): void {
  const ckpt = readableDir(checkpointDir(out));
  if (existsSync(ckpt)) throw new UserError(`${out}: already holds a training run (${ckpt}); continue it with --resume, or give another --out`);
  const best = readableDir(join(out, "best"));
  if (existsSync(best)) throw new UserError(`${out}: already holds a trained model (${best}); give another --out, or move it away first`);
}

export function resumeRun(o: Pick<TrainRunOptions, "out" | "objective" | "valMetric" | "ema" | "vocabSize">, data: RunData, warn: (message: string) => void): Resumed {
  const dir = checkpointDir(o.out);
  if (!existsSync(readableDir(dir))) throw new UserError(`${dir}: nothing to resume (no checkpoint)`);
  const ckpt = loadCheckpoint(dir);
  const file = join(ckpt.dir, "checkpoint.json");
  if (!ckpt.run) throw new UserError(`${file}: not the checkpoint of a sat train run (no run record)`);
  const recorded = ckpt.run.identity;
  const vocabMaxSize = recorded.vocabulary.maxSize === null ? null : o.vocabSize;
  checkRunIdentity(recorded, runIdentity(o, data, ckpt.model.vocab, vocabMaxSize), { dir, file });
  if (!recorded.dataset) warn(`${file}: written before runs recorded their inputs; the dataset and the feature store's contents are not checked`);
  return { ckpt, record: ckpt.run, start: { vocab: ckpt.model.vocab, config: ckpt.model.meta.config, params: ckpt.model.params, init: null } };
}
