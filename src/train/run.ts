/**
 * A full training run on a captioned dataset with precomputed features (`sat train`): set up
 * (setup.ts) or resume (resume.ts), then train minibatch by minibatch, validating every
 * --val-every steps (validation.ts: best/ and patience) and checkpointing every
 * --checkpoint-every steps, at the end, and on SIGINT/SIGTERM; every step and validation goes
 * to the run log (run-log.ts). A resumed run continues bit for bit.
 */
import { join } from "node:path";
import { createEngine } from "../engine/select.js";
import { Meteor } from "../metrics/meteor.js";
import { makeOutputDir } from "../util/fs.js";
import { restoreCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { plannedSteps, scheduledLr, type TrainRunOptions, type TrainRunResult } from "./options.js";
import { checkFreshOut, checkpointDir, resumeRun } from "./resume.js";
import { RunLog } from "./run-log.js";
import { SelfCriticalTrainer } from "./self-critical.js";
import { captionCorpus, checkRunOptions, freshStart, loadRunData, startNotes } from "./setup.js";
import { Trainer, type StepTrainer } from "./trainer.js";
import { Validation } from "./validation.js";
import { WeightAverage } from "./weight-average.js";

export async function runTraining(o: TrainRunOptions): Promise<TrainRunResult> {
  checkRunOptions(o);
  // A resumed run's folder exists (resumeRun refuses one without a checkpoint); a new run's
  // is made here, before the data loads, so that a bad --out costs nothing.
  if (!o.resume) {
    makeOutputDir(o.out, "--out");
    checkFreshOut(o.out);
  }
  const warn = o.onWarning ?? ((message: string) => console.error(`warning: ${message}`));
  const data = loadRunData(o);
  let stop: TrainRunResult["stoppedBy"] | null = null;
  const onSignal = () => void (stop = "signal");
  let dispose = () => data.store.close();
  try {
    const resumed = o.resume ? resumeRun(o, data, warn) : null;
    const { start, record } = resumed ?? freshStart(o, data);
    const log = new RunLog(o.out, warn);
    if (resumed) log.resumeAt(resumed.ckpt.trainer.step);
    else log.startFresh(startNotes(o, start));

    const engine = createEngine(start.config, start.params, o.engine);
    dispose = () => (engine.dispose(), data.store.close());
    let meteorScorer: Meteor | undefined; // one per run, made when first needed: it loads WordNet
    const meteor = (): Meteor => (meteorScorer ??= new Meteor());
    const corpus = captionCorpus(data, start.vocab);
    const optimizer = { ...(resumed ? resumed.ckpt.optimizer : o.optimizer) };
    const trainer: StepTrainer =
      o.objective === "self-critical" ? SelfCriticalTrainer.forRun(engine, corpus, start.vocab.words, o, optimizer, meteor) : Trainer.forRun(engine, corpus, o, optimizer);
    if (resumed) restoreCheckpoint(resumed.ckpt, engine, trainer);
    const average = resumed ? resumed.ckpt.average : o.ema > 0 ? new WeightAverage(o.ema, engine.params) : null;
    const validation = new Validation({ o, engine, trainer, vocab: start.vocab, store: data.store, val: data.val, encoder: data.encoder, average, meteor, bestDir: join(o.out, "best") }, record);

    const checkpoint = () => {
      log.sync();
      const run = { ...record, bestScore: validation.best, sinceBest: validation.sinceBest };
      saveCheckpoint(checkpointDir(o.out), { engine, trainer, vocab: start.vocab, encoder: data.encoder, average, run, extra: { data: o.data, features: o.features } });
    };
    /** Validates, logs, redraws the curves; true when patience has run out. */
    const validate = (offGrid: boolean): boolean => {
      const v = validation.run(offGrid);
      log.append({ type: "validation", ...v });
      log.drawCurves();
      o.onValidation?.(v);
      return validation.patienceSpent;
    };

    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const startStep = trainer.step;
    const epochSteps = o.epochs * trainer.batchesPerEpoch;
    const totalSteps = plannedSteps(o, trainer.batchesPerEpoch);
    while (!stop) {
      if (o.maxSteps > 0 && trainer.step >= o.maxSteps) stop = "max-steps";
      else if (trainer.step >= epochSteps) stop = "epochs";
      if (stop) break;
      trainer.settings.optimizer.lr = scheduledLr(record.baseLr, trainer.step + 1, totalSteps, o);
      const s = trainer.trainStep();
      average?.update(engine.params);
      o.onStep?.(s, trainer);
      log.append({ type: "step", step: s.step, epoch: trainer.epochProgress, lr: trainer.settings.optimizer.lr, mode: s.mode, loss: s.loss, nllPerWord: s.nllPerWord, entropy: s.attentionEntropy, gradNorm: s.gradNorm, ...(s.reward !== undefined ? { reward: s.reward } : {}), ms: s.ms });
      if (validation.enabled && trainer.step % o.valEvery === 0 && validate(false)) stop = "patience";
      if (trainer.step % o.checkpointEvery === 0) checkpoint();
      // Let a pending SIGINT/SIGTERM be delivered between steps.
      await new Promise((r) => setImmediate(r));
    }
    // The planned end rarely falls on a validation step: validate the final weights too, so the
    // last steps can become best/ — not on a signal (the user wants out), nor when this
    // invocation trained nothing. Off the grid, it does not count against patience, so resuming
    // with more --epochs/--max-steps continues as the longer run would have.
    const finished = stop === "epochs" || stop === "max-steps";
    if (finished && validation.enabled && trainer.step > startStep && trainer.step % o.valEvery !== 0) validate(true);
    checkpoint();
    return { steps: trainer.step, bestScore: validation.best, bestDir: join(o.out, "best"), checkpointDir: checkpointDir(o.out), stoppedBy: stop ?? "epochs" };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    dispose();
  }
}
