/**
 * In-browser mode's model: the server's model directory fetched over HTTP
 * (/v1/model/files/model.json and the weights file it names), checked by the same code that
 * checks it on disk (src/model/model-format.ts), and run by the TypeScript reference engine.
 */
import { decodeModelWeights, parseModelFile, type ModelFile } from "../../model/model-format.js";
import { ReferenceEngine } from "../../model/reference.js";
import { fetchBytes } from "./http.js";

export interface BrowserModel {
  meta: ModelFile;
  words: readonly string[];
  engine: ReferenceEngine;
}

export type Progress = (stage: string, done: number, total: number) => void;

/** Fetches, validates and instantiates the served model. `base` is the server's origin (or "" for the page's). */
export async function loadBrowserModel(base: string, onProgress?: Progress): Promise<BrowserModel> {
  const metaUrl = `${base}/v1/model/files/model.json`;
  const metaBytes = await fetchBytes(metaUrl);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(metaBytes));
  } catch (e) {
    throw new Error(`${metaUrl}: not valid JSON (${(e as Error).message})`);
  }
  const { meta, words } = parseModelFile(json, "model.json");
  const file = meta.weights?.file ?? "weights.bin";
  const bytes = await fetchBytes(`${base}/v1/model/files/${encodeURIComponent(file)}`, (d, t) => onProgress?.("weights", d, t));
  const params = decodeModelWeights(meta, bytes, file);
  return { meta, words, engine: new ReferenceEngine(meta.config, params) };
}
