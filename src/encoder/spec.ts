/**
 * A serialisable description of an encoder, so the same encoder can be rebuilt elsewhere
 * (in each feature-extraction worker thread, or from a saved model's metadata).
 */
import { UserError } from "../errors.js";
import type { FeatureOptions } from "../data/synthetic/features.js";
import { loadTfjsEncoder, type Encoder, type Normalisation } from "./encoder.js";
import { loadResNet50Encoder, RESNET50_LAYER } from "./resnet.js";
import { ShapesEncoder } from "./shapes.js";

export type EncoderSpec =
  | { kind: "resnet50"; layer?: string }
  | { kind: "tfjs"; modelPath: string; layer: string; normalisation: Normalisation }
  /** Rendered scenes of the generated shapes task, parsed into the synthesised features `sat demo` models are trained on (shapes.ts). */
  | { kind: "shapes"; features: FeatureOptions };

export const DEFAULT_ENCODER_SPEC: EncoderSpec = { kind: "resnet50", layer: RESNET50_LAYER };

export async function loadEncoder(spec: EncoderSpec): Promise<Encoder> {
  switch (spec.kind) {
    case "resnet50":
      return loadResNet50Encoder(spec.layer ?? RESNET50_LAYER);
    case "tfjs":
      return loadTfjsEncoder(spec);
    case "shapes":
      if (typeof spec.features !== "object" || spec.features === null) throw new UserError("shapes encoder spec: 'features' must be an object of feature options");
      try {
        return new ShapesEncoder(spec.features);
      } catch (e) {
        throw new UserError(`shapes encoder spec: ${(e as Error).message}`);
      }
    default:
      throw new UserError(`unknown encoder kind '${(spec as { kind?: unknown }).kind}' (expected resnet50, tfjs or shapes)`);
  }
}
