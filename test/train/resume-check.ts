// Shared by the trainers' resume tests: train `total` steps straight; train `stopAt` steps,
// checkpoint, drop the trainer ("killed"), restore a new one from the checkpoint and train on.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Vocabulary } from "../../src/data/vocab.js";
import type { ModelEncoderInfo } from "../../src/model/model-dir.js";
import type { DecoderEngine } from "../../src/model/engine.js";
import type { ModelConfig } from "../../src/model/config.js";
import type { StepTrainer } from "../../src/train/trainer.js";
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint, type Checkpoint } from "../../src/train/checkpoint.js";

type Resumable = StepTrainer & { engine: DecoderEngine };

/** Asserts that the resumed run's losses equal the uninterrupted run's, bit for bit, and are not flat. */
export function assertResumesExactly<T extends Resumable>(o: {
  fresh: () => T;
  fromCheckpoint: (config: ModelConfig, params: Float32Array) => T;
  stopAt: number;
  total: number;
  vocab: Vocabulary;
  encoder: ModelEncoderInfo;
  /** Extra checks on the loaded checkpoint. */
  inspect?: (ckpt: Checkpoint) => void;
}): void {
  const straight = o.fresh();
  const expected = Array.from({ length: o.total }, () => straight.trainStep().loss);
  straight.engine.dispose();

  const first = o.fresh();
  for (let i = 0; i < o.stopAt; i++) first.trainStep();
  const dir = join(mkdtempSync(join(tmpdir(), "sat-ckpt-")), "checkpoint");
  saveCheckpoint(dir, { engine: first.engine, trainer: first, vocab: o.vocab, encoder: o.encoder, extra: { note: "test" } });
  saveCheckpoint(dir, { engine: first.engine, trainer: first, vocab: o.vocab, encoder: o.encoder }); // overwriting swaps cleanly
  first.engine.dispose(); // "killed"

  const ckpt = loadCheckpoint(dir);
  assert.equal(ckpt.trainer.step, o.stopAt);
  o.inspect?.(ckpt);
  const resumed = o.fromCheckpoint(ckpt.model.meta.config, ckpt.model.params);
  restoreCheckpoint(ckpt, resumed.engine, resumed);
  const after = Array.from({ length: o.total - o.stopAt }, () => resumed.trainStep().loss);
  assert.deepEqual(after, expected.slice(o.stopAt), "losses after resuming differ from the uninterrupted run");
  // The curve is not flat (the comparison would be vacuous otherwise).
  assert.ok(new Set(after).size > 0.9 * after.length);
  resumed.engine.dispose();
}
