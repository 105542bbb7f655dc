/**
 * `sat train`: trains a soft- or hard-attention model on a dataset whose features were
 * extracted with `sat features`. Flags map onto the library's runTraining (src/train/run.ts).
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { UserError } from "../errors.js";
import { ConfigError, type ModelConfig } from "../../model/config.js";
import { ModelFileError } from "../../model/model-dir.js";
import { WordNetMissingError } from "../../metrics/wordnet.js";
import type { OptimizerSettings } from "../../model/engine.js";
import { DEFAULT_TRAIN_OPTIONS, plannedSteps, VAL_METRIC_LABEL, VAL_METRICS, type TrainRunOptions } from "../../train/options.js";
import { parseChoice, parseFiniteNumber, parseFraction, parseNonNegativeInt, parsePositiveInt, parsePositiveNumber, parseNonNegativeNumber } from "../parse.js";
import { ProgressLine } from "../progress.js";

/** Options whose flag maps one to one onto the run option of the same name. */
type SharedOptions =
  | "data" | "features" | "out" | "vocabSize" | "batchSize" | "epochs" | "maxSteps" | "valEvery" | "valImages"
  | "lengthPenalty" | "patience" | "checkpointEvery" | "lrSchedule" | "lrDecay" | "lrDecayEvery" | "ema" | "seed" | "engine" | "init"
  | "holdGate" | "gateBias" | "objective" | "samples" | "reward" | "valMetric";

interface TrainCliOptions extends Pick<TrainRunOptions, SharedOptions> {
  config?: string;
  attention?: "soft" | "hard";
  optimizer: "adam" | "rmsprop";
  lr: number;
  clip: number;
  beam: number;
  resume?: boolean;
  progress?: boolean;
}

const d = DEFAULT_TRAIN_OPTIONS;

export function registerTrainCommand(program: Command): void {
  program
    .command("train")
    .description("train an attention captioning model on a dataset with extracted features (sat features)")
    .requiredOption("--data <path>", "dataset: Flickr8k folder, Karpathy/COCO JSON, or JSONL/CSV (train and val splits)")
    .requiredOption("--features <dir>", "feature store made by sat features from the same dataset")
    .requiredOption("--out <dir>", "run folder: best/ (best model by --val-metric), checkpoint/, log.jsonl")
    .option("--config <file>", "JSON file of model config fields (hiddenDim, dropout, alphaC, attention, ...)")
    .option("--attention <type>", "soft or hard (overrides --config)", (v) => parseChoice("--attention", v, ["soft", "hard"]))
    .option("--vocab-size <k>", "vocabulary: top-K training words, special tokens included", (v) => parsePositiveInt("--vocab-size", v), d.vocabSize)
    .option("--batch-size <n>", "captions per minibatch (all of one length)", (v) => parsePositiveInt("--batch-size", v), d.batchSize)
    .option("--optimizer <name>", "rmsprop (the paper's for Flickr8k) or adam", (v) => parseChoice("--optimizer", v, ["adam", "rmsprop"]), d.optimizer.kind)
    .option("--lr <x>", "learning rate", (v) => parsePositiveNumber("--lr", v), d.optimizer.lr)
    .option("--clip <x>", "gradient-norm clipping (0 = off)", (v) => parseNonNegativeNumber("--clip", v), d.optimizer.clipNorm)
    .option("--epochs <n>", "passes over the training captions (self-critical: over the training images)", (v) => parsePositiveInt("--epochs", v), d.epochs)
    .option("--max-steps <n>", "stop after this many steps in total (0 = no limit)", (v) => parseNonNegativeInt("--max-steps", v), d.maxSteps)
    .option("--val-every <n>", "validate (beam search, scored by --val-metric) every n steps and after the last step", (v) => parsePositiveInt("--val-every", v), d.valEvery)
    .option("--val-images <n>", "validate on the first n validation images (0 = all)", (v) => parseNonNegativeInt("--val-images", v), d.valImages)
    .option("--beam <n>", "beam width for validation", (v) => parsePositiveInt("--beam", v), d.beamWidth)
    .option("--length-penalty <a>", "validation: rank beams by log p / length^a (0 = plain log p)", (v) => parseNonNegativeNumber("--length-penalty", v), d.lengthPenalty)
    .option("--val-metric <m>", "what validation selects best/ by: bleu4, meteor or bleu4+meteor (their sum)", (v) => parseChoice("--val-metric", v, VAL_METRICS), d.valMetric)
    .option("--patience <n>", "stop after n validations on the --val-every grid without improvement (0 = never)", (v) => parseNonNegativeInt("--patience", v), d.patience)
    .option("--checkpoint-every <n>", "write a checkpoint every n steps", (v) => parsePositiveInt("--checkpoint-every", v), d.checkpointEvery)
    .option("--lr-schedule <kind>", "constant, step (x --lr-decay every --lr-decay-every steps) or cosine (to 0 over the run)", (v) => parseChoice("--lr-schedule", v, ["constant", "step", "cosine"]), d.lrSchedule)
    .option("--lr-decay <x>", "step schedule: factor", (v) => parsePositiveNumber("--lr-decay", v), d.lrDecay)
    .option("--lr-decay-every <n>", "step schedule: steps between decays", (v) => parsePositiveInt("--lr-decay-every", v), d.lrDecayEvery)
    .option("--ema <decay>", "validate and save best/ with an exponential moving average of the weights, e.g. 0.999 (0 = off; zero-debiased, so it averages the updates only, not the starting weights)", (v) => parseFraction("--ema", v), d.ema)
    .option("--seed <n>", "random seed", (v) => parseNonNegativeInt("--seed", v), d.seed)
    .option("--resume", "continue from <out>/checkpoint exactly where it stopped")
    .option("--init <model>", "start from this model's weights and vocabulary (same sizes and encoder), e.g. hard attention from a soft model; ignored with --resume")
    .option("--hold-gate <steps>", "hard attention from scratch: the gate β's parameters get no update for the first n steps, so the decoder cannot close it while attention is still uniform", (v) => parseNonNegativeInt("--hold-gate", v), d.holdGate)
    .option("--gate-bias <b>", "set the gate β's bias of the starting weights (random or --init) to b, e.g. 3 (β ≈ 0.95) with --hold-gate; ignored with --resume", (v) => parseFiniteNumber("--gate-bias", v))
    .option("--objective <kind>", "xent (the paper's; hard attention adds its REINFORCE terms) or self-critical (fine-tune an --init model on a --reward of its own sampled captions; not in the paper)", (v) => parseChoice("--objective", v, ["xent", "self-critical"]), d.objective)
    .option("--samples <k>", "self-critical: captions sampled per image (≥ 2); a minibatch holds --batch-size / k images", (v) => parsePositiveInt("--samples", v), d.samples)
    .option("--reward <spec>", "self-critical: sentence reward, cider (CIDEr-D), meteor, or a weighted sum such as cider+2*meteor", d.reward)
    .option("--engine <kind>", "auto, native or reference", (v) => parseChoice("--engine", v, ["auto", "native", "reference"]), "auto")
    .option("--progress", "show the progress line even when stderr is not a terminal")
    .action(async (o: TrainCliOptions) => runTrainCommand(o));
}

function readConfigFile(path: string): Partial<ModelConfig> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    const j = JSON.parse(text) as unknown;
    if (!j || typeof j !== "object" || Array.isArray(j)) throw new Error("expected a JSON object of model config fields");
    return j as Partial<ModelConfig>;
  } catch (e) {
    throw new UserError(`${path}: ${(e as Error).message}`);
  }
}

async function runTrainCommand(o: TrainCliOptions): Promise<void> {
  const { config, attention, optimizer: kind, lr, clip, beam, resume, progress: forceProgress, ...shared } = o;
  const model: TrainRunOptions["model"] = config ? readConfigFile(config) : {};
  for (const k of ["vocabSize", "featureDim", "numLocations"] as const) {
    if (k in model) throw new UserError(`${config}: ${k} comes from the data (vocabulary, feature store), not the config`);
  }
  if (attention) model.attention = attention;
  const optimizer: OptimizerSettings = { ...d.optimizer, kind, lr, clipNorm: clip };
  let progress: ProgressLine | null = null;
  let lastVal = "";
  const label = VAL_METRIC_LABEL[o.valMetric];
  try {
    // The training pipeline loads only when training starts, so that every other command starts quickly.
    const { runTraining } = await import("../../train/run.js");
    const res = await runTraining({
      ...shared,
      model,
      optimizer,
      beamWidth: beam,
      resume: !!resume,
      onWarning: (message) => console.error(`sat: warning: ${message}`),
      onStep: (s, trainer) => {
        progress ??= new ProgressLine({ total: plannedSteps(o, trainer.batchesPerEpoch), label: "train", force: forceProgress });
        progress.update(s.step, `epoch ${trainer.epochProgress.toFixed(2)} loss/word ${s.nllPerWord.toFixed(3)}${s.reward !== undefined ? ` reward ${s.reward.toFixed(3)}` : ""} ${(s.captions / (s.ms / 1000)).toFixed(0)} capt/s${lastVal}`);
      },
      onValidation: (v) => {
        const scores = `BLEU-4 ${(100 * v.bleu4).toFixed(2)}${v.meteor !== undefined ? ` METEOR ${(100 * v.meteor).toFixed(2)}` : ""}`;
        lastVal = ` val ${scores} (best ${o.valMetric === "bleu4" ? "" : `${label} `}${(100 * v.best).toFixed(2)})`;
        if (!process.stderr.isTTY && !forceProgress) console.error(`step ${v.step}: validation ${scores}${v.improved ? " (best so far, saved)" : ""}`);
      },
    });
    (progress as ProgressLine | null)?.done();
    console.log(`stopped after ${res.steps} steps (${res.stoppedBy}); best validation ${label} ${res.bestScore >= 0 ? (100 * res.bestScore).toFixed(2) : "n/a"}`);
    console.log(`best model: ${res.bestDir}`);
    console.log(`checkpoint: ${res.checkpointDir} (continue with --resume)`);
    if (res.stoppedBy === "signal") process.exitCode = 130;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ModelFileError) throw new UserError(e.message);
    if (e instanceof WordNetMissingError) throw new UserError(`METEOR (--reward or --val-metric): ${e.message}`);
    throw e;
  }
}
