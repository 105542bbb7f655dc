/**
 * How a caption is decoded when nobody says otherwise: the one definition of each decoding
 * setting, under the one name the code uses for it. `sat caption`, `sat eval --model`,
 * `sat serve` (and its web page, through GET /v1/model), validation during training and the
 * demo all read these. The CLI spells beamWidth `--beam` and the HTTP API `beam`.
 *
 * No imports: every floor that decodes or draws may read this file.
 */

export interface DecodeDefaults {
  /** Hypotheses kept per image (1 = greedy decoding). */
  readonly beamWidth: number;
  /** Most words in a caption, <end> not counted. */
  readonly maxLength: number;
  /** Captions returned per image, best first (at most beamWidth). */
  readonly topN: number;
  /** Length normalisation exponent a: rank by log p / length^a (0 = plain log p; length counts <end>). */
  readonly lengthPenalty: number;
  /** Never emit <unk>. */
  readonly suppressUnk: boolean;
}

export const DECODE_DEFAULTS: DecodeDefaults = Object.freeze({
  beamWidth: 3,
  maxLength: 20,
  topN: 1,
  lengthPenalty: 0,
  suppressUnk: true,
});

/**
 * Images decoded together by `sat eval --model` and validation: their live beams share every
 * engine step, so the per-step cost of streaming the weights is shared by up to 192 rows
 * (beam 3). Each step also streams every image's features and projection (~1 MB each at the
 * default size); at 64 images that stays closer to the caches than at 128 (on the 2-core
 * Xeon VM of docs/engine.md, 64 decoded the Flickr8k test split fastest of 32 to 256).
 */
export const DECODE_BATCH_IMAGES = 64;
