/**
 * Validation and selection: decode the validation images (beam search, as `sat eval --model`
 * does; with --ema, with the averaged weights), score them by the run's metric, keep the best
 * model in best/ (replaced as a whole, util/fs.ts replaceDir), and count validations without
 * improvement for patience.
 */
import type { FeatureStore } from "../data/feature-store.js";
import type { ImageEntry } from "../data/datasets.js";
import type { Vocabulary } from "../data/vocab.js";
import { captionStoredImages } from "../decode/caption-store.js";
import type { DecoderEngine } from "../model/engine.js";
import { saveModel, type ModelEncoderInfo } from "../model/model-dir.js";
import { scoreCaptions } from "../metrics/index.js";
import type { Meteor } from "../metrics/meteor.js";
import { replaceDir } from "../util/fs.js";
import type { TrainRunOptions } from "./options.js";
import type { StepTrainer } from "./trainer.js";
import type { WeightAverage } from "./weight-average.js";

export interface ValidationResult {
  step: number;
  epoch: number;
  bleu4: number;
  bleu4NoBp: number;
  /** Computed when the validation metric includes it. */
  meteor?: number;
  /** The value of the validation metric (what selects best/). */
  score: number;
  best: number;
  improved: boolean;
  seconds: number;
}

export interface ValidationSetup {
  o: Pick<TrainRunOptions, "beamWidth" | "lengthPenalty" | "valMetric" | "patience" | "data">;
  engine: DecoderEngine;
  trainer: StepTrainer;
  vocab: Vocabulary;
  store: FeatureStore;
  val: readonly ImageEntry[];
  encoder: ModelEncoderInfo;
  average: WeightAverage | null;
  meteor: () => Meteor;
  bestDir: string;
}

export class Validation {
  /** Best validation score so far (-1: none yet). */
  best: number;
  /** Validations on the grid since the best one. */
  sinceBest: number;

  constructor(
    private readonly s: ValidationSetup,
    state: { bestScore: number; sinceBest: number },
  ) {
    this.best = state.bestScore;
    this.sinceBest = state.sinceBest;
  }

  get enabled(): boolean {
    return this.s.val.length > 0;
  }

  /** True when --patience validations in a row have not improved on the best. */
  get patienceSpent(): boolean {
    return this.s.o.patience > 0 && this.sinceBest >= this.s.o.patience;
  }

  /** offGrid: the end-of-run validation, which may become best/ but does not count against patience. */
  run(offGrid: boolean): ValidationResult {
    const { o, engine, trainer, val, average } = this.s;
    const started = performance.now();
    const decode = () => captionStoredImages(engine, this.s.vocab, this.s.store, val.map((im) => im.id), { beamWidth: o.beamWidth, lengthPenalty: o.lengthPenalty });
    const caps = average ? average.withAveraged(engine.params, decode) : decode();
    const hyps: Record<string, string> = {};
    const refs: Record<string, string[]> = {};
    for (const im of val) {
      hyps[im.id] = caps.get(im.id)!;
      refs[im.id] = im.captions;
    }
    const withMeteor = o.valMetric !== "bleu4";
    const sc = scoreCaptions(refs, hyps, { meteor: withMeteor, meteorScorer: withMeteor ? this.s.meteor() : undefined });
    const bleu4 = sc.bleu[3];
    const meteor = withMeteor ? sc.meteor! : undefined;
    const score = (o.valMetric === "meteor" ? 0 : bleu4) + (meteor ?? 0);
    const improved = score > this.best;
    if (improved) {
      this.best = score;
      this.sinceBest = 0;
      this.saveBest(bleu4, meteor);
    } else if (!offGrid) {
      this.sinceBest++;
    }
    return { step: trainer.step, epoch: trainer.epochProgress, bleu4, bleu4NoBp: sc.bleu_nobp[3], ...(meteor !== undefined ? { meteor } : {}), score, best: this.best, improved, seconds: (performance.now() - started) / 1000 };
  }

  private saveBest(bleu4: number, meteor: number | undefined): void {
    const { o, engine, trainer, average } = this.s;
    const training = {
      step: trainer.step,
      epoch: trainer.epochProgress,
      valBleu4: bleu4,
      ...(meteor !== undefined ? { valMeteor: meteor, valMetric: o.valMetric } : {}),
      valImages: this.s.val.length,
      data: o.data,
      ...(average ? { ema: average.decay } : {}),
    };
    const params = Float32Array.from(average ? average.values : engine.params);
    replaceDir(this.s.bestDir, (tmp) => saveModel(tmp, { config: engine.config, vocab: this.s.vocab.toJSON(), encoder: this.s.encoder, training, params }));
  }
}
