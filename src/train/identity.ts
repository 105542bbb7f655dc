/**
 * What a training run was started with, recorded in its checkpoint, so that `--resume` can
 * refuse to continue on anything else: features of another encoder or shape would be read
 * into the wrong rows, another dataset would silently change what the run learns from.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { CaptionDataset } from "../data/datasets.js";
import type { FeatureStore } from "../data/feature-store.js";
import type { Vocabulary } from "../data/vocab.js";
import type { EncoderIdentity } from "../encoder/encoder.js";
import { UserError } from "../errors.js";
import type { TrainRunOptions } from "./options.js";
import type { RunData } from "./setup.js";

export interface RunIdentity {
  objective: TrainRunOptions["objective"];
  valMetric: TrainRunOptions["valMetric"];
  /** The weight average's decay (0: none). */
  ema: number;
  features: {
    L: number;
    D: number;
    /** The encoder's name, layer and weights digest, as the store records them (absent after migrating a model without them). */
    encoder?: string;
    /** Images with features. Absent in checkpoints migrated from version 1 (as is manifestSha256). */
    images?: number;
    /** sha256 of the store's manifest.json: its shards, their ids in row order and its failures. */
    manifestSha256?: string;
  };
  /** Absent in checkpoints migrated from version 1. */
  dataset?: {
    trainImages: number;
    valImages: number;
    captions: number;
    /** sha256 over every image's id, split and captions: the caption file and split lists as read. */
    sha256: string;
  };
  vocabulary: {
    /** --vocab-size the vocabulary was cut at; null when it came from an --init model. Absent after migration. */
    maxSize?: number | null;
    size: number;
    sha256: string;
  };
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function encoderName(e: EncoderIdentity): string {
  return `${e.name} ${e.layer} (weights sha256 ${e.modelSha256})`;
}

export function featureStoreIdentity(store: FeatureStore): RunIdentity["features"] {
  return { L: store.L, D: store.D, encoder: encoderName(store.encoder), images: store.size, manifestSha256: sha256(readFileSync(join(store.dir, "manifest.json"))) };
}

export function datasetIdentity(ds: CaptionDataset): NonNullable<RunIdentity["dataset"]> {
  const h = createHash("sha256");
  for (const im of ds.images) h.update(JSON.stringify([im.id, im.split, im.captions]) + "\n");
  const count = (split: string) => ds.images.filter((im) => im.split === split).length;
  return { trainImages: count("train"), valImages: count("val"), captions: ds.images.reduce((s, im) => s + im.captions.length, 0), sha256: h.digest("hex") };
}

export function vocabularyIdentity(vocab: Vocabulary, maxSize?: number | null): RunIdentity["vocabulary"] {
  return { ...(maxSize !== undefined ? { maxSize } : {}), size: vocab.size, sha256: sha256(vocab.words.join("\n")) };
}

/**
 * This invocation's identity: its options, store and dataset, and the vocabulary it trains
 * (cut at `vocabMaxSize` words; null when it came from an --init model).
 */
export function runIdentity(o: Pick<TrainRunOptions, "objective" | "valMetric" | "ema">, data: Pick<RunData, "store" | "dataset">, vocab: Vocabulary, vocabMaxSize: number | null): RunIdentity {
  return { objective: o.objective, valMetric: o.valMetric, ema: o.ema, features: featureStoreIdentity(data.store), dataset: datasetIdentity(data.dataset), vocabulary: vocabularyIdentity(vocab, vocabMaxSize) };
}

/** How a mismatch of each field reads: what the option or input is called. */
const FIELD_NAMES: Record<string, string> = {
  "features.encoder": "feature store encoder",
  "features.L": "feature store L",
  "features.D": "feature store D",
  "features.images": "feature store image count",
  "features.manifestSha256": "feature store manifest sha256",
  "dataset.trainImages": "dataset train images",
  "dataset.valImages": "dataset val images",
  "dataset.captions": "dataset captions",
  "dataset.sha256": "dataset sha256 (captions and splits)",
  "vocabulary.maxSize": "--vocab-size",
  "vocabulary.size": "vocabulary size",
  "vocabulary.sha256": "vocabulary sha256",
};

/** The options a run cannot change once started, in the words their old checks used. */
function optionMismatch(field: string, then: unknown): string | null {
  if (field === "ema") return then ? `the run was averaging weights with --ema ${then}; resume it with --ema ${then}` : "the run was started without --ema; resume it with no --ema";
  if (field === "objective") return `the run was started with --objective ${then}; resume it with that`;
  if (field === "valMetric") return `the run selects by --val-metric ${then}; resume it with that`;
  return null;
}

function leaves(o: object, prefix = ""): [string, unknown][] {
  return Object.entries(o).flatMap(([k, v]): [string, unknown][] =>
    v !== null && typeof v === "object" ? leaves(v as object, `${prefix}${k}.`) : [[`${prefix}${k}`, v]],
  );
}

/**
 * The one resume check: every field the checkpoint recorded must equal this invocation's.
 * Fields it lacks (a migrated version-1 checkpoint, `undefined`), that did not apply to it
 * (`null`: no --vocab-size for a vocabulary from --init) or that do not apply now (`undefined`
 * in `now`) are not compared. Throws naming the first field that differs and where it is recorded.
 */
export function checkRunIdentity(recorded: RunIdentity, now: RunIdentity, where: { dir: string; file: string }): void {
  const current = new Map(leaves(now));
  for (const [field, then] of leaves(recorded)) {
    const value = current.get(field);
    if (value === undefined || then === undefined || then === null || value === then) continue;
    const option = optionMismatch(field, then);
    if (option) throw new UserError(`${where.dir}: ${option}`);
    throw new UserError(`--resume: ${FIELD_NAMES[field] ?? field} is ${String(value)}, the run was started with ${String(then)} (${where.file}: ${field})`);
  }
}
