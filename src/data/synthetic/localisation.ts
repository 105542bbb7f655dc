/**
 * Attention localisation: how much of α_t falls on an object.
 *
 * Each cell's weight counts in proportion to the fraction of the cell's area that lies in the
 * box (not "cell centre inside the box"), so the measure is exact for boxes that do not align
 * with the 16-pixel cells and, for uniform attention, equals the box's share of the image:
 *
 *   attentionInBox(α, grid, box) = Σ_i α_i · area(cell_i ∩ box) / area(cell_i)
 *   chanceInBox(box)             = area(box) / area(image)     (= attentionInBox of α_i = 1/L)
 *
 * Compare a model's mass in the box with the chance value: a model that ignores the image
 * scores chance on average, one that localises scores near 1.
 */
import { boxArea, cellBox, intersectionArea, type Box } from "./geometry.js";

export function attentionInBox(alpha: ArrayLike<number>, grid: number, box: Box, canvas = 224): number {
  if (alpha.length !== grid * grid) throw new Error(`attentionInBox: alpha has ${alpha.length} values, expected grid² = ${grid * grid}`);
  const cellArea = (canvas / grid) ** 2;
  let mass = 0;
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i];
    if (a === 0) continue;
    const overlap = intersectionArea(cellBox(i, grid, canvas), box);
    if (overlap > 0) mass += (a * overlap) / cellArea;
  }
  return mass;
}

/** Mass of uniform attention in the box: the box's (clipped) area over the image's. */
export function chanceInBox(box: Box, canvas = 224): number {
  return boxArea({ x0: Math.max(0, box.x0), y0: Math.max(0, box.y0), x1: Math.min(canvas, box.x1), y1: Math.min(canvas, box.y1) }) / (canvas * canvas);
}

/**
 * Mass of α on cells weighted by a per-cell coverage in [0, 1] (e.g. geometry.cellCoverage of
 * the object's shape rather than its box); chance is then mean(coverage).
 */
export function attentionOnCoverage(alpha: ArrayLike<number>, coverage: ArrayLike<number>): number {
  if (alpha.length !== coverage.length) throw new Error(`attentionOnCoverage: ${alpha.length} alphas vs ${coverage.length} coverage values`);
  let mass = 0;
  for (let i = 0; i < alpha.length; i++) mass += alpha[i] * coverage[i];
  return mass;
}
