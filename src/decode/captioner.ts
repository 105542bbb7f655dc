/**
 * The captioning API: a loaded model directory (decoder engine + vocabulary + the encoder it
 * was trained with) that turns photos, or precomputed annotation vectors, into ranked
 * captions with per-word attention. `sat caption`, `sat serve` and library users share it.
 */
import { UserError } from "../errors.js";
import type { Vocabulary } from "../data/vocab.js";
import { loadImage, prepareImage, ImageError } from "../data/images.js";
import type { Encoder } from "../encoder/encoder.js";
import { loadEncoder } from "../encoder/spec.js";
import { createEngine, type EngineChoice } from "../engine/select.js";
import type { DecoderEngine } from "../model/engine.js";
import { loadModel as loadModelDir, type ModelFile } from "../model/model-dir.js";
import { captionFeaturesWith, type CaptionCandidate, type CaptionOptions } from "./caption-features.js";

export type { CaptionCandidate, CaptionOptions, WordAttention } from "./caption-features.js";

export interface ImageCaptions {
  image: string;
  captions: CaptionCandidate[];
}

export interface ImageFailure {
  image: string;
  error: string;
}

export class Captioner {
  private encoder: Encoder | null = null;

  private constructor(
    readonly meta: ModelFile,
    readonly vocab: Vocabulary,
    readonly engine: DecoderEngine,
  ) {}

  /** Loads and validates a model directory. */
  static load(modelDir: string, opts: { engine?: EngineChoice } = {}): Captioner {
    const m = loadModelDir(modelDir);
    return new Captioner(m.meta, m.vocab, createEngine(m.meta.config, m.params, opts.engine ?? "auto"));
  }

  get grid(): [number, number] {
    return this.meta.encoder.grid;
  }

  /** Captions N images given their annotation vectors ([N, L, D]). */
  captionFeatures(features: Float32Array, numImages: number, o: CaptionOptions = {}): CaptionCandidate[][] {
    return captionFeaturesWith(this.engine, this.vocab.words, features, numImages, o);
  }

  /** The encoder this model was trained with (loaded on first use). */
  async getEncoder(): Promise<Encoder> {
    if (this.encoder) return this.encoder;
    const spec = this.meta.encoder.spec;
    if (!spec) {
      throw new UserError(
        `this model was trained on ${this.meta.encoder.name}, not on an image encoder's features: it captions feature arrays (captionFeatures), not photos`,
      );
    }
    this.encoder = await loadEncoder(spec);
    if (this.encoder.L !== this.meta.config.numLocations || this.encoder.D !== this.meta.config.featureDim) {
      throw new UserError(`the model's encoder gives ${this.encoder.L}x${this.encoder.D} features but the model expects ${this.meta.config.numLocations}x${this.meta.config.featureDim}`);
    }
    return this.encoder;
  }

  /**
   * Captions photos (paths or encoded bytes). Unreadable images are returned in `failed` with
   * the reason and never stop the rest. `onProgress` is called after each batch.
   */
  async captionImages(
    images: readonly (string | Uint8Array)[],
    o: CaptionOptions & { batchSize?: number; onProgress?: (done: number) => void } = {},
  ): Promise<{ results: ImageCaptions[]; failed: ImageFailure[]; pixels: Map<string, Uint8Array> }> {
    const encoder = await this.getEncoder();
    const batchSize = o.batchSize ?? 8;
    const results: ImageCaptions[] = [];
    const failed: ImageFailure[] = [];
    const pixels = new Map<string, Uint8Array>();
    for (let s = 0; s < images.length; s += batchSize) {
      const names: string[] = [];
      const batch: Uint8Array[] = [];
      for (let i = s; i < Math.min(images.length, s + batchSize); i++) {
        const img = images[i];
        const name = typeof img === "string" ? img : `<image ${i}>`;
        try {
          const p = typeof img === "string" ? await loadImage(img, encoder.preprocess) : await prepareImage(img, encoder.preprocess, name);
          names.push(name);
          batch.push(p.pixels);
          pixels.set(name, p.pixels);
        } catch (e) {
          if (!(e instanceof ImageError)) throw e;
          failed.push({ image: name, error: e.message });
        }
      }
      if (batch.length > 0) {
        const feats = encoder.encode(batch);
        const caps = this.captionFeatures(feats, batch.length, o);
        names.forEach((image, k) => results.push({ image, captions: caps[k] }));
      }
      o.onProgress?.(Math.min(images.length, s + batchSize));
    }
    return { results, failed, pixels };
  }

  dispose(): void {
    this.engine.dispose();
    this.encoder?.dispose();
  }
}

/** Library entry point: `const model = loadModel("my-model"); await model.captionImages([...])`. */
export function loadModel(modelDir: string, opts: { engine?: EngineChoice } = {}): Captioner {
  return Captioner.load(modelDir, opts);
}
