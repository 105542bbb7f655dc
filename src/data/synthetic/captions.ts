/**
 * The caption grammar of the generated task. A scene's captions are fully determined by the
 * scene: each is one of a documented set of equivalent phrasings of the same facts.
 *
 *   NP  := "a" COLOUR SHAPE                      (every object is named exactly once)
 *
 *   1 object  (A):
 *     single     NP(A)
 *     there-is   "there is" NP(A)
 *     image-of   "an image of" NP(A)
 *     single-adj "a single" COLOUR SHAPE
 *
 *   2 objects: P is the left object when the pair is side by side (|dx| >= |dy| between the
 *   box centres), else the upper one; REL is "to the left of" / "above" accordingly and INV
 *   its inverse "to the right of" / "below".
 *     relation          NP(P) REL NP(Q)
 *     inverse           NP(Q) INV NP(P)
 *     there-is-relation "there is" NP(P) REL NP(Q)
 *     there-is-inverse  "there is" NP(Q) INV NP(P)
 *     list              NP(P) "and" NP(Q)
 *
 *   3 objects, P Q R ordered by box centre from left to right:
 *     list              NP(P) "and" NP(Q) "and" NP(R)
 *     left-to-right     "from left to right" NP(P) NP(Q) "and" NP(R)
 *     right-to-left     "from right to left" NP(R) NP(Q) "and" NP(P)
 *
 * Captions are lower case and carry no punctuation, so the tokens are exactly the
 * whitespace-separated words and survive the PTB tokenisation step of the caption metrics
 * (docs/evaluation.md drops commas), keeping the token indices below valid.
 */
import { boxCentre, type Box } from "./geometry.js";
import { RELATIONS, type Colour, type Relation, type Shape } from "./vocabulary.js";

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  /** Tight box of the shape, in canvas pixels. */
  box: Box;
}

/** Token index in Caption.tokens of a word that names object `objectIndex` of the scene. */
export interface TokenObjectLink {
  tokenIndex: number;
  objectIndex: number;
}

export type CaptionForm =
  | "single"
  | "there-is"
  | "image-of"
  | "single-adj"
  | "relation"
  | "inverse"
  | "there-is-relation"
  | "there-is-inverse"
  | "list"
  | "left-to-right"
  | "right-to-left";

export interface Caption {
  text: string;
  tokens: string[];
  /** One entry per object: the token index of its shape word (the noun). */
  nounPositions: TokenObjectLink[];
  /** One entry per object: the token index of its colour word. */
  colourPositions: TokenObjectLink[];
  form: CaptionForm;
}

/**
 * Where `a` is relative to `b`, judged on box centres: horizontal when |dx| >= |dy|.
 * (Image y grows downwards, so a smaller centre y is "above".)
 */
export function relationOf(a: Box, b: Box): Relation {
  const ca = boxCentre(a);
  const cb = boxCentre(b);
  const dx = ca.x - cb.x;
  const dy = ca.y - cb.y;
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? "left" : "right";
  return dy < 0 ? "above" : "below";
}

const INVERSE: Record<Relation, Relation> = { left: "right", right: "left", above: "below", below: "above" };

class CaptionBuilder {
  readonly tokens: string[] = [];
  readonly nouns: TokenObjectLink[] = [];
  readonly colours: TokenObjectLink[] = [];
  constructor(private readonly objects: readonly SceneObject[]) {}
  words(phrase: string): this {
    for (const w of phrase.split(" ")) if (w) this.tokens.push(w);
    return this;
  }
  /** COLOUR SHAPE of object k, recording both token positions. */
  adjNoun(k: number): this {
    const o = this.objects[k];
    this.colours.push({ tokenIndex: this.tokens.length, objectIndex: k });
    this.tokens.push(o.colour);
    this.nouns.push({ tokenIndex: this.tokens.length, objectIndex: k });
    this.tokens.push(o.shape);
    return this;
  }
  np(k: number): this {
    return this.words("a").adjNoun(k);
  }
  build(form: CaptionForm): Caption {
    return { text: this.tokens.join(" "), tokens: [...this.tokens], nounPositions: [...this.nouns], colourPositions: [...this.colours], form };
  }
}

/**
 * Every valid caption of a scene, canonical phrasing first. Throws if two objects share both
 * colour and shape (a noun phrase would not identify its object) or if there are not 1-3
 * objects.
 */
export function describeScene(objects: readonly SceneObject[]): Caption[] {
  const seen = new Set<string>();
  for (const o of objects) {
    const k = `${o.colour} ${o.shape}`;
    if (seen.has(k)) throw new Error(`describeScene: two objects are both "${k}"; captions could not tell them apart`);
    seen.add(k);
  }
  const b = () => new CaptionBuilder(objects);
  if (objects.length === 1) {
    return [
      b().np(0).build("single"),
      b().words("there is").np(0).build("there-is"),
      b().words("an image of").np(0).build("image-of"),
      b().words("a single").adjNoun(0).build("single-adj"),
    ];
  }
  if (objects.length === 2) {
    const r01 = relationOf(objects[0].box, objects[1].box);
    // P is the left (or upper) object so that REL is always "to the left of" / "above".
    const [p, q] = r01 === "left" || r01 === "above" ? [0, 1] : [1, 0];
    const rel = relationOf(objects[p].box, objects[q].box);
    const relWords = RELATIONS[rel];
    const invWords = RELATIONS[INVERSE[rel]];
    return [
      b().np(p).words(relWords).np(q).build("relation"),
      b().np(q).words(invWords).np(p).build("inverse"),
      b().words("there is").np(p).words(relWords).np(q).build("there-is-relation"),
      b().words("there is").np(q).words(invWords).np(p).build("there-is-inverse"),
      b().np(p).words("and").np(q).build("list"),
    ];
  }
  if (objects.length === 3) {
    const order = [0, 1, 2].sort((i, j) => boxCentre(objects[i].box).x - boxCentre(objects[j].box).x);
    const [p, q, r] = order;
    return [
      b().np(p).words("and").np(q).words("and").np(r).build("list"),
      b().words("from left to right").np(p).np(q).words("and").np(r).build("left-to-right"),
      b().words("from right to left").np(r).np(q).words("and").np(p).build("right-to-left"),
    ];
  }
  throw new Error(`describeScene: scenes have 1 to 3 objects, got ${objects.length}`);
}
