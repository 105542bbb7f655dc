/**
 * The image encoder of in-browser mode, rebuilt from the model's encoder spec as the server
 * rebuilds it (src/encoder/spec.ts): the parameter-free `shapes` parser runs here directly;
 * ResNet-50 runs on tfjs, loaded from the server's copy of the network, in a chunk of its
 * own (tfjs-encoder.ts) fetched only for such models, so the page stays light for shapes.
 */
import { PAPER_PREPROCESS, type PreprocessOptions } from "../../data/images.js";
import { ShapesEncoder, SHAPES_PREPROCESS } from "../../encoder/shapes.js";
import type { EncoderSpec } from "../../encoder/spec.js";
import type { ModelEncoderInfo } from "../../model/model-format.js";

export type TfjsBackend = "webgl" | "wasm" | "cpu";

export interface BrowserEncoder {
  readonly name: string;
  readonly L: number;
  readonly D: number;
  readonly preprocess: PreprocessOptions;
  /** Where the network runs: "js" for the parameter-free shapes parser, else the tfjs backend. */
  readonly backend: string;
  /** Annotation vectors [L * D] of one preprocessed crop (crop x crop x 3 RGB bytes). */
  encode(rgb: Uint8Array): Promise<Float32Array>;
  dispose(): void;
}

/** The encoder description as /v1/model serves it (model.json's, plus the preprocessing when the server adds it). */
export type EncoderInfo = Pick<ModelEncoderInfo, "spec" | "name" | "grid" | "L" | "D"> & Partial<Pick<ModelEncoderInfo, "identity">> & { preprocess?: PreprocessOptions };

/** The spec's kind as a plain string: the page also meets kinds newer than its own EncoderSpec type. */
function kindOf(info: EncoderInfo): string | null {
  return info.spec ? (info.spec as { kind: string }).kind : null;
}

/** The preprocessing the model's encoder applies (crop the page shows and encodes). */
export function preprocessOf(info: EncoderInfo): PreprocessOptions {
  if (info.preprocess) return info.preprocess;
  if (info.identity?.preprocess) return info.identity.preprocess;
  return kindOf(info) === "shapes" ? SHAPES_PREPROCESS : PAPER_PREPROCESS;
}

export interface LoadOptions {
  /** Origin of the server ("" = the page's). */
  base: string;
  /** tfjs backends to try, in order (default webgl, then wasm, then cpu). */
  backends?: TfjsBackend[];
}

export async function loadBrowserEncoder(info: EncoderInfo, o: LoadOptions): Promise<BrowserEncoder> {
  const kind = kindOf(info);
  let enc: BrowserEncoder;
  if (kind === "shapes") {
    const shapes = new ShapesEncoder((info.spec as Extract<EncoderSpec, { kind: "shapes" }>).features);
    enc = {
      name: shapes.id.name,
      L: shapes.L,
      D: shapes.D,
      preprocess: shapes.preprocess,
      backend: "js",
      encode: async (rgb) => shapes.encode([rgb]),
      dispose: () => shapes.dispose(),
    };
  } else if (kind === "resnet50") {
    const { loadResNetInBrowser } = await import("./tfjs-encoder.js");
    enc = await loadResNetInBrowser(info, o);
  } else if (kind === null) {
    throw new Error(`this model was trained on ${info.name}, not on an image encoder's features: it cannot caption photos`);
  } else {
    throw new Error(`encoder kind '${kind}' runs on the server only (its files are not served to browsers): use server mode`);
  }
  if (enc.L !== info.L || enc.D !== info.D) {
    enc.dispose();
    throw new Error(`the encoder gives ${enc.L}x${enc.D} features but the model expects ${info.L}x${info.D}`);
  }
  return enc;
}
