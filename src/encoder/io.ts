/**
 * Loading and saving tfjs models from the local file system. tfjs' own `file://` handler
 * lives in tfjs-node, which we do not install (its install script downloads libtensorflow),
 * and an encoder must never be fetched from a URL: these handlers read `model.json` and the
 * weight shards it names straight from disk.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type * as tfTypes from "@tensorflow/tfjs-core";
import { UserError } from "../errors.js";

interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }[];
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
  trainingConfig?: unknown;
}

export interface LoadedArtifacts {
  artifacts: tfTypes.io.ModelArtifacts;
  /** sha256 over model.json and every weight shard, in manifest order: the model's identity. */
  sha256: string;
}

/** Reads model.json and its weight shards; the weights are concatenated in manifest order. */
export function readModelArtifacts(modelJsonPath: string): LoadedArtifacts {
  const file = resolve(modelJsonPath);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`${file}: cannot read model (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let mj: ModelJson;
  try {
    mj = JSON.parse(text) as ModelJson;
  } catch {
    throw new UserError(`${file}: model.json is not valid JSON`);
  }
  if (!mj || typeof mj !== "object" || !mj.modelTopology) throw new UserError(`${file}: no 'modelTopology' (not a tfjs model.json)`);
  const hash = createHash("sha256").update(text);
  const specs: tfTypes.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of mj.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      if (/^[a-z]+:\/\//i.test(p) || isAbsolute(p)) throw new UserError(`${file}: weight path '${p}' must be relative to the model folder`);
      const shard = join(dirname(file), p);
      let b: Buffer;
      try {
        b = readFileSync(shard);
      } catch (e) {
        throw new UserError(`${shard}: cannot read weight shard (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
      hash.update(b);
      parts.push(b);
    }
  }
  const all = Buffer.concat(parts);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return {
    sha256: hash.digest("hex"),
    artifacts: {
      modelTopology: mj.modelTopology as object,
      weightSpecs: specs,
      weightData,
      format: mj.format,
      generatedBy: mj.generatedBy,
      convertedBy: mj.convertedBy ?? null,
      signature: mj.signature as object | undefined,
      userDefinedMetadata: mj.userDefinedMetadata as tfTypes.io.ModelArtifacts["userDefinedMetadata"],
      modelInitializer: mj.modelInitializer as object | undefined,
      trainingConfig: mj.trainingConfig as tfTypes.io.TrainingConfig | undefined,
    },
  };
}

/** An IOHandler whose `load` returns artifacts already read from disk. */
export function artifactsHandler(a: tfTypes.io.ModelArtifacts): tfTypes.io.IOHandler {
  return { load: async () => a };
}

/**
 * An IOHandler whose `save` writes `model.json` + `weights.bin` into a folder (tests build
 * tiny models with it; also handy for exporting a cut encoder). Files go to temporary names
 * first, then are renamed, so a reader never sees half a model.
 */
export function directorySaveHandler(dir: string): tfTypes.io.IOHandler {
  return {
    save: async (a: tfTypes.io.ModelArtifacts) => {
      mkdirSync(dir, { recursive: true });
      const wd = a.weightData;
      const weights = wd === undefined ? new Uint8Array(0) : Array.isArray(wd) ? Buffer.concat(wd.map((b) => new Uint8Array(b))) : new Uint8Array(wd);
      const mj: ModelJson = {
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: a.weightSpecs ?? [] }],
      };
      writeFileSync(join(dir, "weights.bin.tmp"), weights);
      renameSync(join(dir, "weights.bin.tmp"), join(dir, "weights.bin"));
      writeFileSync(join(dir, "model.json.tmp"), JSON.stringify(mj));
      renameSync(join(dir, "model.json.tmp"), join(dir, "model.json"));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", weightDataBytes: weights.byteLength } };
    },
  };
}
