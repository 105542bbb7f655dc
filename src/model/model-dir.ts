/**
 * A trained model is one self-describing directory (whisper.cpp style), validated on load:
 *
 *   model.json   format tag, model config, vocabulary, encoder identity, training metadata,
 *                and the size + CRC-32 of the weights
 *   weights.bin  16-byte header — magic "SATW", u32 format version (1), u32 parameter count,
 *                u32 CRC-32 of the data — then the flat parameter buffer (src/model/layout.ts)
 *                as little-endian float32
 *
 * Files are written to a temporary name and renamed, weights first, so a crash never leaves
 * a model.json that points at half-written weights.
 */
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { resolveModelConfig, type ModelConfig } from "./config.js";
import { paramLayout } from "./layout.js";
import { Vocabulary, type VocabularyJSON } from "../data/vocab.js";
import { writeFileAtomic } from "../data/feature-store.js";
import type { EncoderIdentity } from "../encoder/encoder.js";
import type { EncoderSpec } from "../encoder/spec.js";

export const MODEL_FORMAT = "show-attend-tell/model";
export const MODEL_FORMAT_VERSION = 1;
const WEIGHTS_MAGIC = 0x57544153; // "SATW" read as little-endian u32


/** What produced the annotation vectors the model was trained on. */
export interface ModelEncoderInfo {
  /** How to rebuild that encoder for new photos; null when the features were synthesised (the shapes task). */
  spec: EncoderSpec | null;
  /** e.g. "resnet50-activation_39" or "synthetic-shapes-features" */
  name: string;
  /** Feature grid (h, w), L = h * w. */
  grid: [number, number];
  L: number;
  D: number;
  /** The encoder's full identity (weights digest, normalisation, preprocessing), when it has one. */
  identity?: EncoderIdentity;
}

export interface ModelFile {
  format: typeof MODEL_FORMAT;
  version: number;
  config: ModelConfig;
  vocab: VocabularyJSON;
  encoder: ModelEncoderInfo;
  training: Record<string, unknown>;
  weights: { file: string; dtype: "float32"; count: number; crc32: number };
}

export interface LoadedModel {
  meta: ModelFile;
  vocab: Vocabulary;
  params: Float32Array;
}

export class ModelFileError extends Error {
  override name = "ModelFileError";
}

/**
 * Writes a float32 buffer as a weights file (header + little-endian data), atomically.
 * Returns the CRC-32 of the data. Also used for optimiser state in checkpoints.
 */
export function writeFloatFile(path: string, values: Float32Array): number {
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const crc = crc32(data);
  const header = new DataView(new ArrayBuffer(16));
  header.setUint32(0, WEIGHTS_MAGIC, true);
  header.setUint32(4, 1, true);
  header.setUint32(8, values.length, true);
  header.setUint32(12, crc, true);
  const file = new Uint8Array(16 + data.byteLength);
  file.set(new Uint8Array(header.buffer), 0);
  file.set(data, 16);
  writeFileAtomic(path, file);
  return crc;
}

/** Reads and validates a weights file of exactly `count` floats. */
export function readFloatFile(path: string, count: number): { values: Float32Array; crc: number } {
  if (!existsSync(path)) throw new ModelFileError(`${path}: not found`);
  const buf = readFileSync(path);
  if (buf.byteLength < 16) throw new ModelFileError(`${path}: truncated (${buf.byteLength} bytes, header is 16)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, true) !== WEIGHTS_MAGIC) throw new ModelFileError(`${path}: not a show-attend-tell weights file (bad magic)`);
  const n = dv.getUint32(8, true);
  if (n !== count) throw new ModelFileError(`${path}: holds ${n} parameters, the config needs ${count}`);
  if (buf.byteLength !== 16 + 4 * count) throw new ModelFileError(`${path}: truncated or padded (${buf.byteLength} bytes, expected ${16 + 4 * count})`);
  const data = buf.subarray(16);
  const crc = crc32(data);
  if (crc !== dv.getUint32(12, true)) throw new ModelFileError(`${path}: CRC-32 mismatch (file corrupted)`);
  const values = new Float32Array(count);
  new Uint8Array(values.buffer).set(data);
  return { values, crc };
}

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

export function loadModel(dir: string): LoadedModel {
  const metaPath = join(dir, "model.json");
  if (!existsSync(metaPath)) throw new ModelFileError(`${metaPath}: not found (is ${dir} a model directory?)`);
  let meta: ModelFile;
  try {
    meta = JSON.parse(readFileSync(metaPath, "utf8")) as ModelFile;
  } catch (e) {
    throw new ModelFileError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (meta.format !== MODEL_FORMAT) throw new ModelFileError(`${metaPath}: format is ${JSON.stringify(meta.format)}, expected "${MODEL_FORMAT}"`);
  if (meta.version !== MODEL_FORMAT_VERSION) throw new ModelFileError(`${metaPath}: version ${meta.version} is not supported (expected ${MODEL_FORMAT_VERSION})`);
  let config: ModelConfig;
  try {
    config = resolveModelConfig(meta.config);
  } catch (e) {
    throw new ModelFileError(`${metaPath}: config: ${(e as Error).message}`);
  }
  let vocab: Vocabulary;
  try {
    vocab = Vocabulary.fromJSON(meta.vocab, `${metaPath}: vocab`);
  } catch (e) {
    throw new ModelFileError((e as Error).message);
  }
  if (vocab.size !== config.vocabSize) throw new ModelFileError(`${metaPath}: vocab has ${vocab.size} words but config.vocabSize is ${config.vocabSize}`);
  if (!meta.encoder || meta.encoder.grid?.[0] * meta.encoder.grid?.[1] !== meta.encoder.L || meta.encoder.L !== config.numLocations || meta.encoder.D !== config.featureDim) {
    throw new ModelFileError(`${metaPath}: encoder L/D (${meta.encoder?.L}/${meta.encoder?.D}) do not match config numLocations/featureDim (${config.numLocations}/${config.featureDim})`);
  }
  const total = paramLayout(config).total;
  const wPath = join(dir, meta.weights?.file ?? "weights.bin");
  const { values: params, crc } = readFloatFile(wPath, total);
  if (crc !== meta.weights.crc32) throw new ModelFileError(`${wPath}: CRC-32 mismatch (file corrupted or not the weights model.json describes)`);
  return { meta: { ...meta, config }, vocab, params };
}
