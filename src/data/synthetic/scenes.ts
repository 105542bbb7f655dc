/**
 * Scene generator of the generated captioning task: 1-3 coloured shapes on a square canvas,
 * placed so that no two boxes overlap and every relation the captions state is clear-cut.
 * Everything is drawn from SeededRandom, so a (count, seed, options) triple fixes the scenes.
 */
import { SeededRandom, hash32 } from "../../util/rng.js";
import { describeScene, type Caption, type SceneObject } from "./captions.js";
import { boxCentre, type Box } from "./geometry.js";
import { COLOURS, SHAPES, type Colour, type Shape } from "./vocabulary.js";

export type SplitName = "train" | "val" | "test";

export interface Scene {
  id: string;
  /** Seed of this scene alone (features.ts derives its noise from it). */
  seed: number;
  /** Canvas side in pixels; boxes are in these coordinates. */
  canvas: number;
  objects: SceneObject[];
  /** Up to maxCaptions phrasings, canonical first (captions.ts). */
  captions: Caption[];
  split?: SplitName;
}

export interface SceneOptions {
  /** Canvas side in pixels (default 224, the crop the encoder sees). */
  canvas?: number;
  minObjects?: number;
  maxObjects?: number;
  shapes?: readonly Shape[];
  colours?: readonly Colour[];
  /** Side of an object's (square) box in pixels, inclusive range (default 36..80). */
  minSize?: number;
  maxSize?: number;
  /** Empty pixels between any two boxes on at least one axis (default 8). */
  minGap?: number;
  /** Empty pixels between a box and the canvas edge (default 4). */
  margin?: number;
  /**
   * Two-object scenes: the dominant axis offset must be at least this multiple of the other
   * one (default 1.5, i.e. the pair is within ~34 degrees of horizontal or vertical), so
   * "left of" vs "above" is never a coin toss.
   */
  relationRatio?: number;
  /** Three-object scenes: least distance between box centres in x (default 24), so the
   * left-to-right order is clear. */
  minOrderGap?: number;
  /** Captions kept per scene, canonical first (default 5, as in Flickr/COCO). */
  maxCaptions?: number;
  /** Scene ids are `${idPrefix}-${index}` (index zero-padded to 6 digits). */
  idPrefix?: string;
}

type Required_ = Required<SceneOptions>;

const DEFAULTS: Required_ = {
  canvas: 224,
  minObjects: 1,
  maxObjects: 3,
  shapes: SHAPES,
  colours: COLOURS,
  minSize: 36,
  maxSize: 80,
  minGap: 8,
  margin: 4,
  relationRatio: 1.5,
  minOrderGap: 24,
  maxCaptions: 5,
  idPrefix: "scene",
};

function resolve(opts: SceneOptions): Required_ {
  const o = { ...DEFAULTS, ...opts };
  const int = (k: keyof Required_, min: number) => {
    const v = o[k] as number;
    if (!Number.isInteger(v) || v < min) throw new Error(`generateScenes: ${k} must be an integer >= ${min}, got ${v}`);
  };
  int("canvas", 16);
  int("minObjects", 1);
  int("maxObjects", 1);
  int("minSize", 4);
  int("maxSize", 4);
  int("minGap", 0);
  int("margin", 0);
  int("maxCaptions", 1);
  if (o.maxObjects > 3) throw new Error(`generateScenes: maxObjects must be at most 3 (the grammar), got ${o.maxObjects}`);
  if (o.minObjects > o.maxObjects) throw new Error(`generateScenes: minObjects (${o.minObjects}) > maxObjects (${o.maxObjects})`);
  if (o.minSize > o.maxSize) throw new Error(`generateScenes: minSize (${o.minSize}) > maxSize (${o.maxSize})`);
  if (o.maxSize + 2 * o.margin > o.canvas) throw new Error(`generateScenes: maxSize + 2*margin exceeds the canvas (${o.canvas})`);
  if (!(o.relationRatio >= 1)) throw new Error(`generateScenes: relationRatio must be >= 1, got ${o.relationRatio}`);
  if (o.shapes.length === 0 || o.colours.length === 0) throw new Error("generateScenes: shapes and colours must be non-empty");
  for (const s of o.shapes) if (!SHAPES.includes(s)) throw new Error(`generateScenes: unknown shape "${s}"`);
  for (const c of o.colours) if (!COLOURS.includes(c)) throw new Error(`generateScenes: unknown colour "${c}"`);
  if (o.shapes.length * o.colours.length < o.maxObjects) throw new Error("generateScenes: too few colour/shape pairs for maxObjects distinct objects");
  return o;
}

function separated(a: Box, b: Box, gap: number): boolean {
  return a.x1 + gap <= b.x0 || b.x1 + gap <= a.x0 || a.y1 + gap <= b.y0 || b.y1 + gap <= a.y0;
}

/** Whether the layout satisfies every constraint of the options (see SceneOptions). */
function layoutOk(objs: readonly SceneObject[], o: Required_): boolean {
  for (let i = 0; i < objs.length; i++) for (let j = i + 1; j < objs.length; j++) if (!separated(objs[i].box, objs[j].box, o.minGap)) return false;
  if (objs.length === 2) {
    const a = boxCentre(objs[0].box);
    const b = boxCentre(objs[1].box);
    const dx = Math.abs(a.x - b.x);
    const dy = Math.abs(a.y - b.y);
    if (Math.max(dx, dy) < o.relationRatio * Math.min(dx, dy)) return false;
  }
  if (objs.length === 3) {
    const xs = objs.map((ob) => boxCentre(ob.box).x).sort((p, q) => p - q);
    if (xs[1] - xs[0] < o.minOrderGap || xs[2] - xs[1] < o.minOrderGap) return false;
  }
  return true;
}

function drawScene(rng: SeededRandom, o: Required_): SceneObject[] {
  const n = o.minObjects + rng.int(o.maxObjects - o.minObjects + 1);
  // Rejection sampling of whole layouts: with the defaults a three-object layout is accepted
  // about one time in ten, so the cap below is never reached in practice.
  for (let attempt = 0; attempt < 10000; attempt++) {
    const objs: SceneObject[] = [];
    const used = new Set<string>();
    while (objs.length < n) {
      const shape = o.shapes[rng.int(o.shapes.length)];
      const colour = o.colours[rng.int(o.colours.length)];
      if (used.has(`${colour} ${shape}`)) continue;
      used.add(`${colour} ${shape}`);
      const size = o.minSize + rng.int(o.maxSize - o.minSize + 1);
      const x0 = o.margin + rng.int(o.canvas - 2 * o.margin - size + 1);
      const y0 = o.margin + rng.int(o.canvas - 2 * o.margin - size + 1);
      objs.push({ shape, colour, box: { x0, y0, x1: x0 + size, y1: y0 + size } });
    }
    if (layoutOk(objs, o)) return objs;
  }
  throw new Error(`generateScenes: no layout of ${n} objects satisfies the options after 10000 tries (objects too large for the canvas?)`);
}

/** `count` scenes, deterministic in (seed, opts); scene k depends only on (seed, k, opts), so a longer list extends a shorter one. */
export function generateScenes(count: number, seed: number, opts: SceneOptions = {}): Scene[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`generateScenes: count must be a non-negative integer, got ${count}`);
  const o = resolve(opts);
  const master = new SeededRandom(seed);
  const scenes: Scene[] = [];
  for (let k = 0; k < count; k++) {
    // Each scene gets its own stream, so its layout does not depend on how many draws the
    // rejection sampling of earlier scenes used.
    const sceneSeed = Math.floor(master.next() * 4294967296) >>> 0;
    const objects = drawScene(new SeededRandom(sceneSeed), o);
    scenes.push({
      id: `${o.idPrefix}-${String(k).padStart(6, "0")}`,
      seed: sceneSeed,
      canvas: o.canvas,
      objects,
      captions: describeScene(objects).slice(0, o.maxCaptions),
    });
  }
  return scenes;
}

export interface SplitSizes extends SceneOptions {
  train: number;
  val: number;
  test: number;
  seed: number;
}

export interface SceneSplits {
  train: Scene[];
  val: Scene[];
  test: Scene[];
}

/**
 * Train / val / test scenes from independent streams (seed hashed with the split's index),
 * so growing one split does not change the others. Ids are prefixed with the split name.
 */
export function generateSplits(sizes: SplitSizes): SceneSplits {
  const { train, val, test, seed, ...opts } = sizes;
  const make = (n: number, k: number, name: SplitName) =>
    generateScenes(n, hash32((seed ^ Math.imul(k + 1, 0x9e3779b9)) >>> 0), { ...opts, idPrefix: name }).map((s) => ({ ...s, split: name }));
  return { train: make(train, 0, "train"), val: make(val, 1, "val"), test: make(test, 2, "test") };
}
