/**
 * The closed vocabulary of the generated captioning task: shapes, colours (with the RGB the
 * image variant paints them in) and the words of the caption grammar (captions.ts).
 */
export const SHAPES = ["circle", "square", "triangle", "star", "cross"] as const;
export type Shape = (typeof SHAPES)[number];

/**
 * Six colours far apart in RGB, all starting with a consonant so the article is always "a".
 * White objects stay visible because the background is a mid grey.
 */
export const COLOURS = ["red", "green", "blue", "yellow", "purple", "white"] as const;
export type Colour = (typeof COLOURS)[number];

export const COLOUR_RGB: Readonly<Record<Colour, readonly [number, number, number]>> = {
  red: [220, 40, 40],
  green: [40, 170, 70],
  blue: [45, 90, 225],
  yellow: [240, 210, 40],
  purple: [150, 60, 190],
  white: [245, 245, 245],
};

/** Background of rendered scenes: a mid grey, distinct from every object colour. */
export const BACKGROUND_RGB: readonly [number, number, number] = [118, 118, 118];

/** Relation phrases of two-object captions, and the phrase for the inverse relation. */
export const RELATIONS = {
  left: "to the left of",
  right: "to the right of",
  above: "above",
  below: "below",
} as const;
export type Relation = keyof typeof RELATIONS;

/** Every word a generated caption can contain (no punctuation: see captions.ts). */
export function captionWords(shapes: readonly string[] = SHAPES, colours: readonly string[] = COLOURS): string[] {
  const grammar = ["a", "an", "and", "there", "is", "image", "of", "single", "from", "to", "the", "left", "right", "above", "below"];
  return [...new Set([...grammar, ...colours, ...shapes])].sort();
}
