/**
 * The attention figures' smoothing, the one definition the CLI, the server, the page and the
 * figure code read. No imports, so the browser bundle can take it too.
 */

/**
 * σ of the Gaussian that smooths an upsampled attention map, in pixels of a 224-pixel crop:
 * the authors' figures (Xu et al. 2015) use σ = 20 there.
 */
export const ATTENTION_SIGMA_AT_224 = 20;

/** The figure's σ for a crop of `cropSize` pixels (ATTENTION_SIGMA_AT_224 scaled to it). */
export function attentionSigma(cropSize: number): number {
  return (ATTENTION_SIGMA_AT_224 * cropSize) / 224;
}
