/**
 * A trained model is one self-describing directory (whisper.cpp style), validated on load:
 * model.json + weights.bin, whose formats (and their checks) live in model-format.ts, shared
 * with the web page's in-browser mode. This module reads and writes them on disk.
 *
 * Files are written to a temporary name and renamed, weights first, so a crash never leaves
 * a model.json that points at half-written weights. A folder that is replaced as a whole
 * (a run's best/) goes through replaceDir, and loading reads its previous copy mid-swap.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { ModelConfig } from "./config.js";
import { paramLayout } from "./layout.js";
import {
  checkWeightsCrc,
  decodeFloatFile,
  encodeFloatFile,
  parseModelFile,
  ModelFileError,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  WEIGHTS_HEADER_BYTES,
  type ModelEncoderInfo,
  type ModelFile,
} from "./model-format.js";
import { Vocabulary, type VocabularyJSON } from "../data/vocab.js";
import { readableDir, readJsonFile, readRegularFile, writeFileAtomic } from "../util/fs.js";

export { MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelFileError, type ModelEncoderInfo, type ModelFile };

export interface LoadedModel {
  meta: ModelFile;
  vocab: Vocabulary;
  params: Float32Array;
}

/**
 * Writes a float32 buffer as a weights file (header + little-endian data), atomically.
 * Returns the CRC-32 of the data. Also used for optimiser state in checkpoints.
 */
export function writeFloatFile(path: string, values: Float32Array): number {
  const { bytes, crc } = encodeFloatFile(values, crc32);
  writeFileAtomic(path, bytes);
  return crc;
}

/**
 * Reads and validates a weights file of exactly `count` floats. Its size is checked before
 * anything is read, so a FIFO, a folder or a file of the wrong length never gets that far.
 */
export function readFloatFile(path: string, count: number): { values: Float32Array; crc: number } {
  const bytes = readRegularFile(path, { error: ModelFileError, what: "weights file", exactBytes: WEIGHTS_HEADER_BYTES + 4 * count });
  return decodeFloatFile(bytes, count, path, crc32);
}

/** model.json holds the vocabulary (COCO's ~10k words is ~200 kB); anything this large is not one. */
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

export function saveModel(
  dir: string,
  m: { config: ModelConfig; vocab: VocabularyJSON; encoder: ModelEncoderInfo; training?: Record<string, unknown>; params: Float32Array },
): void {
  const total = paramLayout(m.config).total;
  if (m.params.length !== total) throw new ModelFileError(`saveModel: params has ${m.params.length} values, expected ${total}`);
  if (m.vocab.words.length !== m.config.vocabSize) {
    throw new ModelFileError(`saveModel: vocabulary has ${m.vocab.words.length} words but config.vocabSize is ${m.config.vocabSize}`);
  }
  mkdirSync(dir, { recursive: true });
  const crc = writeFloatFile(join(dir, "weights.bin"), m.params);
  const meta: ModelFile = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    config: m.config,
    vocab: m.vocab,
    encoder: m.encoder,
    training: m.training ?? {},
    weights: { file: "weights.bin", dtype: "float32", count: total, crc32: crc },
  };
  writeFileAtomic(join(dir, "model.json"), JSON.stringify(meta, null, 2) + "\n");
}

export function loadModel(modelDir: string): LoadedModel {
  const dir = readableDir(modelDir);
  const metaPath = join(dir, "model.json");
  const json = readJsonFile(metaPath, { error: ModelFileError, maxBytes: MAX_MODEL_JSON_BYTES });
  let vocab: Vocabulary | undefined;
  const { meta } = parseModelFile(json, metaPath, (v, where) => {
    try {
      vocab = Vocabulary.fromJSON(v, where);
    } catch (e) {
      throw new ModelFileError((e as Error).message);
    }
    return vocab.words;
  });
  // parseModelFile has checked that weights.file is a plain name inside this folder.
  const wPath = join(dir, meta.weights.file);
  const { values: params, crc } = readFloatFile(wPath, paramLayout(meta.config).total);
  checkWeightsCrc(meta, crc, wPath);
  return { meta, vocab: vocab!, params };
}
