/**
 * The generated captioning task end to end (the embedded default behind `sat demo` and the
 * learning tests): generate scenes, synthesise their annotation vectors, build the
 * vocabulary, train a decoder, caption the held-out scenes greedily, and measure how often
 * the caption is right and where the model looked when it named each object.
 */
import { generateSplits, SyntheticFeatures, attentionInBox, chanceInBox, type FeatureOptions, type Scene, type SceneSplits } from "../data/synthetic/index.js";
import { ShapesEncoder } from "../encoder/shapes.js";
import { saveModel } from "../model/model-dir.js";
import { Vocabulary, START, END } from "../data/vocab.js";
import { resolveModelConfig, type AttentionType, type ModelConfig } from "../model/config.js";
import { DEFAULT_OPTIMIZER, type DecoderEngine } from "../model/engine.js";
import { initParams } from "../model/init.js";
import { greedyDecode, type DecodedCaption } from "../decode/greedy.js";
import { beamSearch } from "../decode/beam.js";
import { DECODE_DEFAULTS } from "../decode/defaults.js";
import { Trainer, type CaptionCorpus, type StepLog } from "./trainer.js";

export interface SyntheticTaskOptions {
  attention: AttentionType;
  seed: number;
  trainScenes: number;
  testScenes: number;
  /** Phrasings kept per scene (1 = only the canonical caption; up to 5). */
  captionsPerScene: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** D of the synthesised annotation vectors. */
  featureDim: number;
  /** Strength of the positional code and of the noise in the synthesised features. */
  positionScale: number;
  noiseStd: number;
  embedDim: number;
  hiddenDim: number;
  attnDim: number;
  /** Dropout on u_t during training. */
  dropout: number;
  /** λ of the doubly stochastic penalty. */
  alphaC: number;
  /** Beam width for captioning the held-out scenes (1 = greedy). */
  beamWidth: number;
  /** Builds the engine for a config and its initial parameters (native or reference). */
  createEngine: (config: ModelConfig, params: Float32Array) => DecoderEngine;
  /** Called after every step (progress display). */
  onStep?: (log: StepLog, trainer: Trainer) => void;
}

export const DEFAULT_SYNTHETIC_TASK: Omit<SyntheticTaskOptions, "createEngine"> = {
  attention: "soft",
  seed: 1,
  trainScenes: 8000,
  testScenes: 200,
  captionsPerScene: 1,
  steps: 4000,
  batchSize: 32,
  lr: 5e-3,
  featureDim: 64,
  positionScale: 1,
  noiseStd: 0.05,
  embedDim: 64,
  hiddenDim: 128,
  attnDim: 64,
  dropout: 0.1,
  alphaC: 0,
  beamWidth: 1,
};

/** Localisation of one object mention in a generated caption. */
export interface Mention {
  scene: number;
  object: number;
  /** Token positions (in the generated caption) of the object's colour word and noun. */
  colourPos: number;
  nounPos: number;
  /** α mass inside the object's box when the noun / the colour word was emitted. */
  atNoun: number;
  atColour: number;
  chance: number;
}

export interface LocalisationReport {
  mentions: number;
  /** Mean α mass in the named object's box at the noun's time step. */
  atNoun: number;
  /** The same at the colour word (α_t is computed before the word: docs/model.md §Measuring localisation). */
  atColour: number;
  /** Mean over mentions of the larger of the two. */
  atEitherWord: number;
  /** Mean mass uniform attention would put in the same boxes. */
  chance: number;
  /** By token position in the generated caption: mean mass at the noun emitted there. */
  byNounPosition: { position: number; mentions: number; atNoun: number; chance: number }[];
}

export interface SyntheticTaskResult {
  config: ModelConfig;
  engine: DecoderEngine;
  vocab: Vocabulary;
  splits: SceneSplits;
  features: SyntheticFeatures;
  /** The options `features` was built with, every field explicit (saved with the model). */
  featureOptions: Required<FeatureOptions>;
  testFeatures: Float32Array;
  decoded: DecodedCaption[];
  captions: string[];
  /** Share of test scenes whose caption equals one of their reference captions. */
  exactMatch: number;
  localisation: LocalisationReport;
  lastLogs: StepLog[];
  trainSeconds: number;
}

/** The scenes' synthetic annotation vectors, one L x D block per scene in order. */
export function featuresOf(scenes: readonly Scene[], sf: SyntheticFeatures): Float32Array {
  const LD = sf.numLocations * sf.dim;
  const out = new Float32Array(scenes.length * LD);
  scenes.forEach((s, i) => out.set(sf.sceneFeatures(s), i * LD));
  return out;
}

export function buildCorpus(scenes: readonly Scene[], features: Float32Array, LD: number, vocab: Vocabulary): CaptionCorpus {
  const captionImage: number[] = [];
  const captionTokens: Int32Array[] = [];
  scenes.forEach((s, i) =>
    s.captions.forEach((c) => {
      captionImage.push(i);
      captionTokens.push(Int32Array.from(vocab.encode(c.text).slice(0, -1))); // drop <end>: the trainer appends it
    }),
  );
  return {
    numImages: scenes.length,
    readFeatures: (im, out, offset) => out.set(features.subarray(im * LD, (im + 1) * LD), offset),
    captionImage: Int32Array.from(captionImage),
    captionTokens,
  };
}

/**
 * Finds each object mention "<colour> <shape>" in a generated caption and measures α there.
 * A mention counts only when exactly one object of the scene has that colour and shape.
 */
export function measureMentions(sceneIndex: number, scene: Scene, words: string[], dec: DecodedCaption, grid: number): Mention[] {
  const out: Mention[] = [];
  for (let p = 1; p < words.length; p++) {
    const matches = scene.objects.map((o, k) => ({ o, k })).filter(({ o }) => o.shape === words[p] && o.colour === words[p - 1]);
    if (matches.length !== 1) continue;
    const { o, k } = matches[0];
    out.push({
      scene: sceneIndex,
      object: k,
      colourPos: p - 1,
      nounPos: p,
      atNoun: attentionInBox(dec.alphas[p], grid, o.box, scene.canvas),
      atColour: attentionInBox(dec.alphas[p - 1], grid, o.box, scene.canvas),
      chance: chanceInBox(o.box, scene.canvas),
    });
  }
  return out;
}

export function summariseMentions(mentions: Mention[]): LocalisationReport {
  const mean = (f: (m: Mention) => number, ms = mentions) => (ms.length ? ms.reduce((s, m) => s + f(m), 0) / ms.length : 0);
  const positions = [...new Set(mentions.map((m) => m.nounPos))].sort((a, b) => a - b);
  return {
    mentions: mentions.length,
    atNoun: mean((m) => m.atNoun),
    atColour: mean((m) => m.atColour),
    atEitherWord: mean((m) => Math.max(m.atNoun, m.atColour)),
    chance: mean((m) => m.chance),
    byNounPosition: positions.map((position) => {
      const ms = mentions.filter((m) => m.nounPos === position);
      return { position, mentions: ms.length, atNoun: mean((m) => m.atNoun, ms), chance: mean((m) => m.chance, ms) };
    }),
  };
}

/**
 * The task's feature options with every field written out (grid, code seed, object scale and
 * coverage samples are features.ts's defaults), so a saved model's shapes encoder rebuilds the
 * same codes even if those defaults change.
 */
export function taskFeatureOptions(opts: Pick<SyntheticTaskOptions, "featureDim" | "positionScale" | "noiseStd">): Required<FeatureOptions> {
  return { grid: 14, dim: opts.featureDim, codeSeed: 20150210, objectScale: 1, positionScale: opts.positionScale, noiseStd: opts.noiseStd, coverageSamples: 8 };
}

/**
 * Saves a trained task model whose encoder is the shapes scene parser (src/encoder/shapes.ts)
 * with the task's feature options, so `sat caption` / `Captioner.captionImages` caption
 * rendered scene PNGs with it.
 */
export function saveSyntheticTaskModel(dir: string, res: SyntheticTaskResult, training: Record<string, unknown> = {}): void {
  const encoder = new ShapesEncoder(res.featureOptions);
  if (encoder.L !== res.config.numLocations || encoder.D !== res.config.featureDim) {
    throw new Error(`saveSyntheticTaskModel: the shapes encoder gives ${encoder.L}x${encoder.D} features, the model expects ${res.config.numLocations}x${res.config.featureDim}`);
  }
  saveModel(dir, {
    config: res.config,
    vocab: res.vocab.toJSON(),
    encoder: { spec: { kind: "shapes", features: res.featureOptions }, name: encoder.id.name, grid: encoder.id.grid, L: encoder.L, D: encoder.D, identity: encoder.id },
    training,
    params: Float32Array.from(res.engine.params),
  });
}

export function runSyntheticTask(opts: SyntheticTaskOptions): SyntheticTaskResult {
  const splits = generateSplits({ train: opts.trainScenes, val: 0, test: opts.testScenes, seed: opts.seed, maxCaptions: opts.captionsPerScene });
  const featureOptions = taskFeatureOptions(opts);
  const sf = new SyntheticFeatures(featureOptions);
  const LD = sf.numLocations * sf.dim;
  const trainFeatures = featuresOf(splits.train, sf);
  const testFeatures = featuresOf(splits.test, sf);
  const vocab = Vocabulary.build(splits.train.flatMap((s) => s.captions.map((c) => c.text)));
  const config = resolveModelConfig({
    vocabSize: vocab.size,
    embedDim: opts.embedDim,
    hiddenDim: opts.hiddenDim,
    attnDim: opts.attnDim,
    featureDim: sf.dim,
    numLocations: sf.numLocations,
    attention: opts.attention,
    dropout: opts.dropout,
    alphaC: opts.alphaC,
  });
  const engine = opts.createEngine(config, initParams(config, opts.seed));
  const trainer = new Trainer(engine, buildCorpus(splits.train, trainFeatures, LD, vocab), {
    batchSize: opts.batchSize,
    seed: opts.seed,
    optimizer: { ...DEFAULT_OPTIMIZER, lr: opts.lr, clipNorm: 5 },
    startId: START,
    endId: END,
  });
  const started = performance.now();
  const lastLogs: StepLog[] = [];
  for (let i = 0; i < opts.steps; i++) {
    const log = trainer.trainStep();
    lastLogs.push(log);
    if (lastLogs.length > 50) lastLogs.shift();
    opts.onStep?.(log, trainer);
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const decoded = opts.beamWidth === 1
    ? greedyDecode(engine, testFeatures, splits.test.length, { startId: START, endId: END, maxLength: DECODE_DEFAULTS.maxLength })
    : beamSearch(engine, testFeatures, splits.test.length, { startId: START, endId: END, maxLength: DECODE_DEFAULTS.maxLength, beamWidth: opts.beamWidth }).map((c) => c[0]);
  const captions = decoded.map((d) => vocab.decode(d.tokens).join(" "));
  let exact = 0;
  const mentions: Mention[] = [];
  decoded.forEach((d, i) => {
    const scene = splits.test[i];
    if (scene.captions.some((c) => c.tokens.join(" ") === captions[i])) exact++;
    mentions.push(...measureMentions(i, scene, vocab.decode(d.tokens), d, sf.grid));
  });
  return {
    config,
    engine,
    vocab,
    splits,
    features: sf,
    featureOptions,
    testFeatures,
    decoded,
    captions,
    exactMatch: exact / decoded.length,
    localisation: summariseMentions(mentions),
    lastLogs,
    trainSeconds,
  };
}
