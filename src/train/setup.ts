/**
 * The first stage of a training run: the dataset and its feature store, the images usable for
 * training and validation, and for a new run its vocabulary, model config and starting
 * weights (random, or an --init model's).
 */
import { loadDataset, type CaptionDataset, type ImageEntry } from "../data/datasets.js";
import { FeatureStore } from "../data/feature-store.js";
import { Vocabulary } from "../data/vocab.js";
import { DatasetError, UserError } from "../errors.js";
import { resolveModelConfig, type ModelConfig } from "../model/config.js";
import { initParams } from "../model/init.js";
import { paramLayout, view } from "../model/layout.js";
import { loadModel, type LoadedModel, type ModelEncoderInfo } from "../model/model-dir.js";
import type { TrainRunOptions } from "./options.js";
import type { RunRecord } from "./checkpoint.js";
import { runIdentity } from "./identity.js";
import type { CaptionCorpus } from "./trainer.js";
import { checkSelfCriticalOptions } from "./self-critical.js";

export interface RunData {
  dataset: CaptionDataset;
  store: FeatureStore;
  /** Training images: captioned, with features. */
  train: ImageEntry[];
  /** Validation images (at most --val-images): captioned, with features. */
  val: ImageEntry[];
  /** What a saved model records of the encoder its features came from. */
  encoder: ModelEncoderInfo;
}

/** Where a run starts from: its vocabulary, config and weights. */
export interface RunStart {
  vocab: Vocabulary;
  config: ModelConfig;
  params: Float32Array;
  /** The --init model the weights came from, if any. */
  init: LoadedModel | null;
}

/** Flag errors a run can find before its dataset and features load. */
export function checkRunOptions(o: Pick<TrainRunOptions, "objective" | "samples" | "reward" | "resume" | "init">): void {
  if (o.objective !== "self-critical") return;
  checkSelfCriticalOptions(o);
  if (!o.resume && !o.init) throw new UserError("--objective self-critical fine-tunes a trained model: pass --init <model>");
}

function usable(ds: CaptionDataset, store: FeatureStore, split: string): ImageEntry[] {
  return ds.images.filter((im) => im.split === split && im.captions.length > 0 && store.has(im.id));
}

function encoderInfo(store: FeatureStore): ModelEncoderInfo {
  const grid = Math.round(Math.sqrt(store.L));
  // The store's encoder identity says which network made the features; the spec to rebuild
  // it is the default ResNet-50 unless the identity names another.
  const spec = store.encoder.name.startsWith("resnet50") ? { kind: "resnet50" as const, layer: store.encoder.layer } : null;
  return { spec, name: store.encoder.name, grid: [grid, store.L / grid], L: store.L, D: store.D, identity: store.encoder };
}

export function loadRunData(o: Pick<TrainRunOptions, "data" | "features" | "valImages">): RunData {
  const dataset = loadDataset(o.data);
  const store = FeatureStore.open(o.features);
  const train = usable(dataset, store, "train");
  const val = usable(dataset, store, "val").slice(0, o.valImages > 0 ? o.valImages : undefined);
  if (train.length === 0) {
    store.close();
    throw new DatasetError(`${o.data}: no training images with features in ${o.features}`);
  }
  return { dataset, store, train, val, encoder: encoderInfo(store) };
}

/** A model to start from: it must describe features like the store's, with this run's sizes. */
function loadInitModel(dir: string, store: FeatureStore): LoadedModel {
  const m = loadModel(dir);
  const id = m.meta.encoder.identity;
  if (id && (id.name !== store.encoder.name || id.modelSha256 !== store.encoder.modelSha256 || id.layer !== store.encoder.layer)) {
    throw new UserError(`--init ${dir}: the model was trained on features of ${id.name} (${id.layer}), the store holds ${store.encoder.name} (${store.encoder.layer})`);
  }
  return m;
}

function checkInitSizes(m: LoadedModel, config: ModelConfig, dir: string): void {
  for (const f of ["embedDim", "hiddenDim", "attnDim", "featureDim", "numLocations"] as const) {
    if (m.meta.config[f] !== config[f]) throw new UserError(`--init ${dir}: ${f} is ${m.meta.config[f]} there but ${config[f]} in this run's config`);
  }
}

/**
 * A new run's start: the top-K training words (or --init's vocabulary), fresh or --init
 * weights, and the record of what the run is started with.
 */
export function freshStart(o: TrainRunOptions, data: RunData): { start: RunStart; record: RunRecord } {
  const init = o.init ? loadInitModel(o.init, data.store) : null;
  const vocab = init ? init.vocab : Vocabulary.build(data.train.flatMap((im) => im.captions), { maxSize: o.vocabSize });
  const config = resolveModelConfig({ ...o.model, vocabSize: vocab.size, featureDim: data.store.D, numLocations: data.store.L });
  if (init) checkInitSizes(init, config, o.init!);
  const params = init ? init.params : initParams(config, o.seed);
  if (o.gateBias !== undefined) view(params, paramLayout(config), "b_beta")[0] = o.gateBias;
  const identity = runIdentity(o, data, vocab, init ? null : o.vocabSize);
  return { start: { vocab, config, params, init }, record: { identity, bestScore: -1, sinceBest: 0, baseLr: o.optimizer.lr } };
}

/** What a new run's log says first: the model it started from, how the gate is held. */
export function startNotes(o: Pick<TrainRunOptions, "init" | "holdGate" | "gateBias">, start: RunStart): Record<string, unknown>[] {
  return [
    ...(start.init ? [{ type: "init", from: o.init, attention: start.init.meta.config.attention }] : []),
    ...(o.holdGate > 0 || o.gateBias !== undefined ? [{ type: "gate", holdSteps: o.holdGate, bias: o.gateBias ?? null }] : []),
  ];
}

/** The training captions as word ids over the training images, read from the store on demand. */
export function captionCorpus(data: RunData, vocab: Vocabulary): CaptionCorpus {
  const captionImage: number[] = [];
  const captionTokens: Int32Array[] = [];
  data.train.forEach((im, i) =>
    im.captions.forEach((c) => {
      captionImage.push(i);
      captionTokens.push(Int32Array.from(vocab.encode(c).slice(0, -1)));
    }),
  );
  return {
    numImages: data.train.length,
    readFeatures: (image, out, offset) => void data.store.read(data.train[image].id, out, offset),
    captionImage: Int32Array.from(captionImage),
    captionTokens,
  };
}
