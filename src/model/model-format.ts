/**
 * The model directory's two file formats as pure functions over parsed JSON and bytes, with
 * no Node dependency: model-dir.ts (files on disk) and the web page's in-browser mode (the
 * same files fetched over HTTP) read and check models through this one module.
 *
 *   model.json   format tag, model config, vocabulary, encoder identity, training metadata,
 *                and the size + CRC-32 of the weights
 *   weights.bin  16-byte header — magic "SATW", u32 format version (1), u32 parameter count,
 *                u32 CRC-32 of the data — then the flat parameter buffer (src/model/layout.ts)
 *                as little-endian float32
 */
import { resolveModelConfig, type ModelConfig } from "./config.js";
import { paramLayout } from "./layout.js";
import type { VocabularyJSON } from "../data/vocab.js";
import type { EncoderIdentity } from "../encoder/encoder.js";
import type { EncoderSpec } from "../encoder/spec.js";
import { ModelFileError } from "../errors.js";
import { isPlainFileName } from "../util/file-name.js";

export { ModelFileError };

export const MODEL_FORMAT = "show-attend-tell/model";
export const MODEL_FORMAT_VERSION = 1;
export const WEIGHTS_MAGIC = 0x57544153; // "SATW" read as little-endian u32
export const WEIGHTS_HEADER_BYTES = 16;

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

/** A CRC-32 function (Node passes zlib's, which is faster; both compute the same IEEE CRC). */
export type Crc32 = (data: Uint8Array) => number;

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: zlib's and PNG's), byte-table version. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A float32 buffer as a weights file (header + little-endian data). Returns the bytes and the data's CRC-32. */
export function encodeFloatFile(values: Float32Array, crc: Crc32 = crc32): { bytes: Uint8Array; crc: number } {
  const file = new Uint8Array(WEIGHTS_HEADER_BYTES + values.byteLength);
  const dv = new DataView(file.buffer);
  if (LITTLE_ENDIAN_HOST) file.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), WEIGHTS_HEADER_BYTES);
  else for (let i = 0; i < values.length; i++) dv.setFloat32(WEIGHTS_HEADER_BYTES + 4 * i, values[i], true);
  const sum = crc(file.subarray(WEIGHTS_HEADER_BYTES));
  dv.setUint32(0, WEIGHTS_MAGIC, true);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, values.length, true);
  dv.setUint32(12, sum, true);
  return { bytes: file, crc: sum };
}

/**
 * Checks a weights file of exactly `count` floats (magic, count, size, CRC-32) and returns its
 * values; `source` names the file in errors.
 */
export function decodeFloatFile(buf: Uint8Array, count: number, source: string, crc: Crc32 = crc32): { values: Float32Array; crc: number } {
  if (buf.byteLength < WEIGHTS_HEADER_BYTES) throw new ModelFileError(`${source}: truncated (${buf.byteLength} bytes, header is ${WEIGHTS_HEADER_BYTES})`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0, true) !== WEIGHTS_MAGIC) throw new ModelFileError(`${source}: not a show-attend-tell weights file (bad magic)`);
  if (dv.getUint32(4, true) !== 1) throw new ModelFileError(`${source}: weights format version ${dv.getUint32(4, true)} is not supported (expected 1)`);
  const n = dv.getUint32(8, true);
  if (n !== count) throw new ModelFileError(`${source}: holds ${n} parameters, the config needs ${count}`);
  if (buf.byteLength !== WEIGHTS_HEADER_BYTES + 4 * count) {
    throw new ModelFileError(`${source}: truncated or padded (${buf.byteLength} bytes, expected ${WEIGHTS_HEADER_BYTES + 4 * count})`);
  }
  const data = buf.subarray(WEIGHTS_HEADER_BYTES);
  const sum = crc(data);
  if (sum !== dv.getUint32(12, true)) throw new ModelFileError(`${source}: CRC-32 mismatch (file corrupted)`);
  const values = new Float32Array(count);
  if (LITTLE_ENDIAN_HOST) new Uint8Array(values.buffer).set(data);
  else for (let i = 0; i < count; i++) values[i] = dv.getFloat32(WEIGHTS_HEADER_BYTES + 4 * i, true);
  return { values, crc: sum };
}

/** The default vocabulary check where no richer one is given: an array of strings. */
function vocabWords(vocab: unknown, where: string): readonly string[] {
  const words = (vocab as Partial<VocabularyJSON> | null)?.words;
  if (!Array.isArray(words) || !words.every((w) => typeof w === "string")) throw new ModelFileError(`${where}: field 'words' must be an array of strings`);
  return words;
}

/**
 * Validates a parsed model.json (`source` names it in errors): format and version, the
 * config (defaults filled in), the vocabulary (through `readVocab`, which model-dir.ts
 * replaces with the full Vocabulary check) against the config's size, and the encoder's
 * L and D against the config. Returns the metadata with the resolved config.
 */
export function parseModelFile(
  json: unknown,
  source: string,
  readVocab: (vocab: unknown, where: string) => readonly string[] = vocabWords,
): { meta: ModelFile; words: readonly string[] } {
  if (!isObject(json)) throw new ModelFileError(`${source}: not a JSON object`);
  const meta = json as unknown as ModelFile;
  if (meta.format !== MODEL_FORMAT) throw new ModelFileError(`${source}: format is ${JSON.stringify(meta.format)}, expected "${MODEL_FORMAT}"`);
  if (meta.version !== MODEL_FORMAT_VERSION) throw new ModelFileError(`${source}: version ${JSON.stringify(meta.version)} is not supported (expected ${MODEL_FORMAT_VERSION})`);
  if (!isObject(meta.config)) throw new ModelFileError(`${source}: field 'config' must be an object`);
  let config: ModelConfig;
  try {
    config = resolveModelConfig(meta.config);
  } catch (e) {
    throw new ModelFileError(`${source}: config: ${(e as Error).message}`);
  }
  const words = readVocab(meta.vocab, `${source}: vocab`);
  if (words.length !== config.vocabSize) throw new ModelFileError(`${source}: vocab has ${words.length} words but config.vocabSize is ${config.vocabSize}`);
  const enc = meta.encoder as unknown;
  if (!isObject(enc)) throw new ModelFileError(`${source}: field 'encoder' must be an object`);
  if (typeof enc.name !== "string" && enc.name !== undefined) throw new ModelFileError(`${source}: field 'encoder.name' must be a string`);
  if (enc.spec !== undefined && enc.spec !== null && !isObject(enc.spec)) throw new ModelFileError(`${source}: field 'encoder.spec' must be an object or null`);
  const grid = enc.grid;
  if (!Array.isArray(grid) || grid.length !== 2 || !grid.every(isPositiveInt)) throw new ModelFileError(`${source}: field 'encoder.grid' must be two positive integers [h, w]`);
  for (const f of ["L", "D"] as const) {
    if (!isPositiveInt(enc[f])) throw new ModelFileError(`${source}: field 'encoder.${f}' must be a positive integer (got ${JSON.stringify(enc[f])})`);
  }
  if (grid[0] * grid[1] !== enc.L || enc.L !== config.numLocations || enc.D !== config.featureDim) {
    throw new ModelFileError(`${source}: encoder L/D (${enc.L}/${enc.D}) do not match config numLocations/featureDim (${config.numLocations}/${config.featureDim})`);
  }
  if (meta.training !== undefined && !isObject(meta.training)) throw new ModelFileError(`${source}: field 'training' must be an object`);
  checkWeightsField(meta.weights, paramLayout(config).total, source);
  return { meta: { ...meta, config, training: meta.training ?? {} }, words };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

/**
 * The `weights` field: a plain file name inside the model folder (a path there would let a
 * model.json read, or `sat serve` publish, any file on the machine), float32, the count the
 * config implies (the weights header stores it as a u32), and a u32 CRC-32.
 */
function checkWeightsField(w: unknown, total: number, source: string): void {
  if (!isObject(w)) throw new ModelFileError(`${source}: field 'weights' must be an object {file, dtype, count, crc32}`);
  if (!isPlainFileName(w.file) || w.file === "model.json") {
    throw new ModelFileError(`${source}: field 'weights.file' must be a plain file name in the model folder (got ${JSON.stringify(w.file)})`);
  }
  if (w.dtype !== "float32") throw new ModelFileError(`${source}: field 'weights.dtype' must be "float32" (got ${JSON.stringify(w.dtype)})`);
  if (total > 0xffffffff) throw new ModelFileError(`${source}: config needs ${total} parameters, more than a weights file can hold (2^32 - 1)`);
  if (w.count !== total) throw new ModelFileError(`${source}: field 'weights.count' is ${JSON.stringify(w.count)}, the config needs ${total}`);
  if (typeof w.crc32 !== "number" || !Number.isInteger(w.crc32) || w.crc32 < 0 || w.crc32 > 0xffffffff) {
    throw new ModelFileError(`${source}: field 'weights.crc32' must be an unsigned 32-bit integer (got ${JSON.stringify(w.crc32)})`);
  }
}

/** Checks the weights' CRC-32 against the one model.json records (it names the weights it was saved with). */
export function checkWeightsCrc(meta: ModelFile, crc: number, source: string): void {
  if (crc !== meta.weights?.crc32) throw new ModelFileError(`${source}: CRC-32 mismatch (file corrupted or not the weights model.json describes)`);
}

/** The parameters of a validated model from its weights file's bytes, checked against model.json's count and CRC-32. */
export function decodeModelWeights(meta: ModelFile, bytes: Uint8Array, source: string, crc: Crc32 = crc32): Float32Array {
  const { values, crc: sum } = decodeFloatFile(bytes, paramLayout(meta.config).total, source, crc);
  checkWeightsCrc(meta, sum, source);
  return values;
}
