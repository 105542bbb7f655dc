/**
 * `sat features --data <dataset> --out <dir>`: encodes every image of a dataset once into a
 * feature store (src/data/feature-store.ts). Resumable: rerunning skips finished shards.
 * Ctrl-C / SIGTERM stop after the current batch and drop the unfinished shard; a second
 * signal exits at once (nothing half-written is left either way: shards are renamed into place).
 */
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { loadDatasets, SPLITS, type DatasetFormat, type Split } from "../../data/datasets.js";
import { DEFAULT_BATCH_SIZE, DEFAULT_SHARD_SIZE, extractFeatures, type ExtractSummary } from "../../features/extract.js";
import { resolve } from "node:path";
import type { Normalisation } from "../../encoder/encoder.js";
import type { EncoderSpec } from "../../encoder/spec.js";
import { UserError } from "../errors.js";
import { parseChoice, parseNonNegativeInt, parsePositiveInt } from "../parse.js";
import { ProgressLine } from "../progress.js";

interface FeaturesOptions {
  data: string[];
  out: string;
  format?: DatasetFormat;
  imageRoot?: string;
  splits?: Split[];
  encoder: string;
  layer?: string;
  channelOrder?: "rgb" | "bgr";
  mean?: [number, number, number];
  std?: [number, number, number];
  scale?: number;
  batchSize: number;
  shardSize: number;
  workers: number;
  progress?: boolean;
  json?: boolean;
  throttleMs?: number;
}

function parseTriple(flag: string, v: string): [number, number, number] {
  const parts = v.split(",").map((s) => Number(s.trim()));
  if (parts.length === 1 && Number.isFinite(parts[0])) return [parts[0], parts[0], parts[0]];
  if (parts.length !== 3 || !parts.every(Number.isFinite)) throw new InvalidArgumentError(`${flag} must be one number or three, comma-separated (got "${v}")`);
  return parts as [number, number, number];
}

function parseScale(v: string): number {
  // Accept "1/255" as well as 0.00392...
  const m = /^\s*([\d.]+)\s*\/\s*([\d.]+)\s*$/.exec(v);
  const n = m ? Number(m[1]) / Number(m[2]) : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--scale must be a positive number or a fraction like 1/255 (got "${v}")`);
  return n;
}

function parseSplits(v: string): Split[] {
  return v.split(",").map((s) => parseChoice("--splits", s.trim(), SPLITS));
}

/** The encoder the options name (`resnet50`, or a tfjs model.json plus --layer) and how to rebuild it. */
export function encoderSpecFromOptions(o: Pick<FeaturesOptions, "encoder" | "layer" | "channelOrder" | "mean" | "std" | "scale">): EncoderSpec {
  if (o.encoder === "resnet50") {
    if (o.channelOrder || o.mean || o.std || o.scale !== undefined) throw new UserError("--channel-order/--mean/--std/--scale apply to a custom --encoder model, not resnet50 (its normalisation is fixed)");
    return { kind: "resnet50", layer: o.layer ?? "activation_39" };
  }
  if (!o.layer) throw new UserError(`--layer is required with a custom --encoder (${o.encoder}): the layer or node whose output is the feature map`);
  const norm: Normalisation = {
    channelOrder: o.channelOrder ?? "rgb",
    scale: o.scale ?? 1,
    mean: o.mean ?? [0, 0, 0],
    std: o.std ?? [1, 1, 1],
  };
  if (norm.std.some((s) => s === 0)) throw new UserError("--std must not be 0");
  return { kind: "tfjs", modelPath: resolve(o.encoder), layer: o.layer, normalisation: norm };
}

export function registerFeaturesCommand(program: Command): void {
  program
    .command("features")
    .description("encode every image of a dataset once into a feature store (resumable)")
    .requiredOption("--data <path...>", "dataset: a Flickr8k folder, Karpathy dataset_*.json, COCO captions_*.json (several allowed), or a .jsonl/.csv of {image, caption, split}")
    .requiredOption("--out <dir>", "feature store folder (created; rerun with the same folder to resume)")
    .option("--format <name>", "dataset format, if not told by the path: flickr8k, karpathy, coco, jsonl, csv", (v) =>
      parseChoice("--format", v, ["flickr8k", "karpathy", "coco", "jsonl", "csv"] as const),
    )
    .option("--image-root <dir>", "folder the dataset's image paths are relative to")
    .option("--splits <list>", "only these splits, comma-separated (train,val,test,none); default: every image", parseSplits)
    .option("--encoder <model>", "resnet50, or the path of a tfjs model.json (layers or graph model)", "resnet50")
    .option("--layer <name>", "layer (or graph node) whose output is the feature map (resnet50: activation_39)")
    .option("--channel-order <order>", "custom encoder input channel order: rgb or bgr (default rgb)", (v) => parseChoice("--channel-order", v, ["rgb", "bgr"] as const))
    .option("--mean <m>", "custom encoder: per-channel mean subtracted after scaling, 'm' or 'r,g,b' (default 0)", (v) => parseTriple("--mean", v))
    .option("--std <s>", "custom encoder: per-channel divisor after the mean, 's' or 'r,g,b' (default 1)", (v) => parseTriple("--std", v))
    .option("--scale <k>", "custom encoder: pixel (0..255) multiplier, e.g. 1/255 (default 1)", parseScale)
    .option("--batch-size <n>", "images per encoder call", (v) => parsePositiveInt("--batch-size", v), DEFAULT_BATCH_SIZE)
    .option("--shard-size <n>", "images per shard file", (v) => parsePositiveInt("--shard-size", v), DEFAULT_SHARD_SIZE)
    .option("--workers <n>", "encoder threads (tfjs-wasm uses one core each; each holds its own model, ~0.5 GB)", (v) => parsePositiveInt("--workers", v), 1)
    .option("--progress", "show the progress line even when stderr is not a terminal")
    .option("--json", "print the summary as one JSON object")
    .addOption(
      // Test hook: slows the run so a test can kill it halfway reproducibly.
      new Option("--throttle-ms <ms>").argParser((v: string) => parseNonNegativeInt("--throttle-ms", v)).hideHelp(),
    )
    .action(async (o: FeaturesOptions) => {
      const s = await runFeatures(o);
      if (s.interrupted) process.exitCode = 130;
    });
}

export async function runFeatures(o: FeaturesOptions): Promise<ExtractSummary> {
  const ds = loadDatasets(o.data, { format: o.format, imageRoot: o.imageRoot });
  const images = o.splits ? ds.images.filter((im) => o.splits!.includes(im.split)) : ds.images;
  if (!images.length) throw new UserError(`${o.data.join(", ")}: no images${o.splits ? ` in splits ${o.splits.join(",")}` : ""}`);
  const spec = encoderSpecFromOptions(o);
  // tfjs takes seconds to import: only commands that encode pay for it.
  const { loadEncoder } = await import("../../encoder/spec.js");
  const encoder = await loadEncoder(spec);

  let stopRequested = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopRequested) {
      process.stderr.write(`\nsat: ${sig} again: exiting now (finished shards are kept)\n`);
      process.exit(130);
    }
    stopRequested = true;
    process.stderr.write(`\nsat: ${sig}: stopping after this batch; the unfinished shard is dropped (rerun to resume)\n`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let progress: ProgressLine | null = null;
  let summary: ExtractSummary;
  try {
    summary = await extractFeatures({
      images,
      out: o.out,
      encoder,
      batchSize: o.batchSize,
      shardSize: o.shardSize,
      workers: o.workers,
      encoderSpec: spec,
      throttleMs: o.throttleMs,
      shouldStop: () => stopRequested,
      onProgress: (p) => {
        progress ??= new ProgressLine({ total: p.total, label: "features", unit: "img", force: o.progress });
        progress.update(p.done, p.failed ? `${p.failed} bad` : "");
      },
      onFailed: (f) => {
        // Above the progress line on a terminal; one line per bad image in logs.
        if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
        process.stderr.write(`sat: skipped ${f.id}: ${f.reason}${f.detail ? ` (${f.detail})` : ""}\n`);
      },
    });
  } finally {
    (progress as ProgressLine | null)?.done();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    encoder.dispose();
  }
  if (o.json) {
    console.log(JSON.stringify({ ...summary, encoder: encoder.id.name, L: encoder.L, D: encoder.D }));
  } else {
    const id = encoder.id;
    const bad = summary.failed.length;
    console.log(
      `${summary.complete ? "features complete" : "features incomplete"}: ${summary.images} images, ${summary.images - bad} encoded, ${bad} skipped as bad` +
        ` -> ${summary.out} (${id.name}, L=${id.L}, D=${id.D}, float16)`,
    );
    console.log(
      `this run: ${summary.encoded} encoded, ${summary.failedNow} bad, ${summary.skippedImages} already done (${summary.skippedShards}/${summary.shards} shards)` +
        ` in ${summary.seconds.toFixed(1)} s, ${summary.imagesPerSecond.toFixed(2)} images/s` +
        (summary.workers > 1 ? ` (${summary.workers} workers)` : ""),
    );
    if (bad) {
      const shown = 20;
      console.log(`bad images${bad > shown ? ` (first ${shown}; all are listed in manifest.json)` : ""}:`);
      for (const f of summary.failed.slice(0, shown)) console.log(`  ${f.id}: ${f.reason}`);
    }
    if (summary.saturated) console.log(`warning: ${summary.saturated} values exceeded the float16 range and were stored as +-65504`);
    if (summary.interrupted) console.log("interrupted: rerun the same command to finish");
  }
  return summary;
}
