// The generated captioning task: scenes, and captions checked against the scene geometry
// with a parser written here (not by re-running the generator's grammar).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  COLOURS,
  SHAPES,
  captionWords,
  describeScene,
  generateScenes,
  generateSplits,
  type Box,
  type Scene,
} from "../../src/data/synthetic/index.js";

const SCENES = generateScenes(600, 2015);

const centre = (b: Box) => ({ x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2 });

test("generateScenes is deterministic in the seed, and scene k does not depend on count", () => {
  assert.deepEqual(generateScenes(600, 2015), SCENES);
  assert.deepEqual(generateScenes(40, 2015), SCENES.slice(0, 40));
  const other = generateScenes(40, 2016);
  const same = other.filter((s, k) => JSON.stringify(s.objects) === JSON.stringify(SCENES[k].objects)).length;
  assert.equal(same, 0, "a different seed gives different layouts");
});

test("generateSplits: deterministic, split-prefixed ids, splits independent of each other's sizes", () => {
  const a = generateSplits({ train: 30, val: 10, test: 10, seed: 5 });
  const b = generateSplits({ train: 30, val: 10, test: 10, seed: 5 });
  assert.deepEqual(a, b);
  const c = generateSplits({ train: 50, val: 10, test: 12, seed: 5 });
  assert.deepEqual(c.val, a.val, "growing train leaves val unchanged");
  assert.deepEqual(c.test.slice(0, 10), a.test);
  for (const name of ["train", "val", "test"] as const) {
    for (const s of a[name]) {
      assert.equal(s.split, name);
      assert.ok(s.id.startsWith(`${name}-`), s.id);
    }
  }
  // The three splits come from different streams: no identical layouts between them.
  const layouts = new Set(a.train.map((s) => JSON.stringify(s.objects)));
  for (const s of [...a.val, ...a.test]) assert.ok(!layouts.has(JSON.stringify(s.objects)));
});

test("scenes: 1-3 distinct objects, boxes inside the canvas, square, sized as asked, not overlapping", () => {
  const counts = [0, 0, 0, 0];
  for (const s of SCENES) {
    assert.equal(s.canvas, 224);
    counts[s.objects.length]++;
    const kinds = new Set(s.objects.map((o) => `${o.colour} ${o.shape}`));
    assert.equal(kinds.size, s.objects.length, `${s.id}: two objects share colour and shape`);
    for (const o of s.objects) {
      const { x0, y0, x1, y1 } = o.box;
      assert.ok(x0 >= 4 && y0 >= 4 && x1 <= 220 && y1 <= 220, `${s.id}: box ${JSON.stringify(o.box)} leaves the 4-px margin`);
      assert.equal(x1 - x0, y1 - y0);
      assert.ok(x1 - x0 >= 36 && x1 - x0 <= 80);
      assert.ok(SHAPES.includes(o.shape) && COLOURS.includes(o.colour));
    }
    for (let i = 0; i < s.objects.length; i++) {
      for (let j = i + 1; j < s.objects.length; j++) {
        const a = s.objects[i].box;
        const b = s.objects[j].box;
        const gapX = Math.max(b.x0 - a.x1, a.x0 - b.x1);
        const gapY = Math.max(b.y0 - a.y1, a.y0 - b.y1);
        assert.ok(Math.max(gapX, gapY) >= 8, `${s.id}: objects ${i} and ${j} closer than the 8-px gap`);
      }
    }
  }
  // 600 scenes, uniform over 1..3 objects: each count expected 200, sd ~11.5.
  for (const n of [1, 2, 3]) assert.ok(counts[n] > 150 && counts[n] < 250, `count of ${n}-object scenes: ${counts[n]}`);
});

test("every caption names each object once, and the noun / colour positions point at that object's words", () => {
  for (const s of SCENES) {
    assert.ok(s.captions.length >= 3 && s.captions.length <= 5, `${s.id}: ${s.captions.length} captions`);
    assert.equal(new Set(s.captions.map((c) => c.text)).size, s.captions.length, "captions are distinct");
    for (const c of s.captions) {
      assert.equal(c.text, c.tokens.join(" "));
      assert.deepEqual(c.nounPositions.map((p) => p.objectIndex).sort(), s.objects.map((_, k) => k));
      assert.deepEqual(c.colourPositions.map((p) => p.objectIndex).sort(), s.objects.map((_, k) => k));
      for (const p of c.nounPositions) assert.equal(c.tokens[p.tokenIndex], s.objects[p.objectIndex].shape, `${c.text}`);
      for (const p of c.colourPositions) assert.equal(c.tokens[p.tokenIndex], s.objects[p.objectIndex].colour, `${c.text}`);
      // Every shape word in the caption is one of the linked nouns (no unlinked nouns).
      const nounTokens = new Set(c.nounPositions.map((p) => p.tokenIndex));
      c.tokens.forEach((w, i) => {
        if ((SHAPES as readonly string[]).includes(w)) assert.ok(nounTokens.has(i), `"${c.text}": noun at ${i} not linked`);
      });
    }
  }
});

test("captions use only the documented vocabulary, without punctuation", () => {
  const vocab = new Set(captionWords());
  for (const s of SCENES) for (const c of s.captions) for (const w of c.tokens) assert.ok(vocab.has(w), `"${w}" in "${c.text}"`);
});

// ---- an independent reading of the captions -------------------------------------------

interface Parsed {
  order?: "left-to-right" | "right-to-left";
  phrases: Array<{ colour: string; shape: string }>;
  relation?: "to the left of" | "to the right of" | "above" | "below";
  list: boolean;
}

/** Reads a caption: optional "there is" / "an image of" / "from X to Y" lead-in, noun
 * phrases "a COLOUR SHAPE" (or "a single COLOUR SHAPE"), separated by a relation or "and". */
function parseCaption(text: string): Parsed {
  let rest = text;
  const out: Parsed = { phrases: [], list: false };
  for (const lead of ["there is ", "an image of "]) if (rest.startsWith(lead)) rest = rest.slice(lead.length);
  const m = /^from (left to right|right to left) /.exec(rest);
  if (m) {
    out.order = m[1] === "left to right" ? "left-to-right" : "right-to-left";
    rest = rest.slice(m[0].length);
  }
  const np = new RegExp(`^(?:a single |a )?(${COLOURS.join("|")}) (${SHAPES.join("|")})`);
  for (;;) {
    const p = np.exec(rest);
    if (!p) throw new Error(`unparsable at "${rest}" in "${text}"`);
    out.phrases.push({ colour: p[1], shape: p[2] });
    rest = rest.slice(p[0].length).trimStart();
    if (!rest) break;
    const sep = /^(to the left of|to the right of|above|below|and) ?/.exec(rest);
    if (sep) {
      if (sep[1] === "and") out.list = true;
      else out.relation = sep[1] as Parsed["relation"];
      rest = rest.slice(sep[0].length);
    } else if (!out.order) {
      throw new Error(`no separator at "${rest}" in "${text}"`);
    }
  }
  return out;
}

function objectOf(s: Scene, p: { colour: string; shape: string }) {
  const hits = s.objects.filter((o) => o.colour === p.colour && o.shape === p.shape);
  assert.equal(hits.length, 1, `${s.id}: "${p.colour} ${p.shape}" matches ${hits.length} objects`);
  return hits[0];
}

test("caption text agrees with the scene: attributes, relations and left-to-right order", () => {
  const seen = new Set<string>();
  for (const s of SCENES) {
    for (const c of s.captions) {
      const p = parseCaption(c.text);
      assert.equal(p.phrases.length, s.objects.length, `"${c.text}" names ${p.phrases.length} of ${s.objects.length} objects`);
      const objs = p.phrases.map((ph) => objectOf(s, ph));
      assert.equal(new Set(objs).size, objs.length, `"${c.text}" names an object twice`);
      const xs = objs.map((o) => centre(o.box).x);
      const ys = objs.map((o) => centre(o.box).y);
      if (p.relation) {
        seen.add(p.relation);
        const dx = xs[0] - xs[1];
        const dy = ys[0] - ys[1];
        // The relation names the dominant axis of the centre offset, and it is clear-cut.
        if (p.relation === "to the left of" || p.relation === "to the right of") {
          assert.ok(Math.abs(dx) >= 1.5 * Math.abs(dy), `"${c.text}": dx ${dx}, dy ${dy}`);
          assert.ok(p.relation === "to the left of" ? dx < 0 : dx > 0, `"${c.text}": dx ${dx}`);
        } else {
          assert.ok(Math.abs(dy) >= 1.5 * Math.abs(dx), `"${c.text}": dx ${dx}, dy ${dy}`);
          assert.ok(p.relation === "above" ? dy < 0 : dy > 0, `"${c.text}": dy ${dy}`);
        }
      } else if (objs.length === 3 || p.order) {
        // Three-object lists run left to right unless the caption says otherwise.
        const sign = p.order === "right-to-left" ? -1 : 1;
        for (let k = 1; k < xs.length; k++) assert.ok(sign * (xs[k] - xs[k - 1]) >= 24, `"${c.text}": x centres ${xs}`);
      } else if (objs.length === 2) {
        // Two-object list: reading order, left first for a side-by-side pair, else top first.
        const horizontal = Math.abs(xs[0] - xs[1]) >= Math.abs(ys[0] - ys[1]);
        assert.ok(horizontal ? xs[0] < xs[1] : ys[0] < ys[1], `"${c.text}": ${xs} ${ys}`);
      }
    }
  }
  assert.deepEqual([...seen].sort(), ["above", "below", "to the left of", "to the right of"]);
});

test("options: object count, vocabulary subset, caption cap; bad options are named", () => {
  const only = generateScenes(50, 3, { minObjects: 2, maxObjects: 2, shapes: ["circle", "square"], colours: ["red", "blue"], maxCaptions: 2 });
  for (const s of only) {
    assert.equal(s.objects.length, 2);
    assert.equal(s.captions.length, 2);
    for (const o of s.objects) assert.ok(["circle", "square"].includes(o.shape) && ["red", "blue"].includes(o.colour));
  }
  assert.throws(() => generateScenes(1, 1, { maxObjects: 4 }), /maxObjects/);
  assert.throws(() => generateScenes(1, 1, { minSize: 90, maxSize: 80 }), /minSize/);
  assert.throws(() => generateScenes(1, 1, { shapes: ["hexagon" as never] }), /hexagon/);
  assert.throws(() => generateScenes(1.5, 1), /count/);
});

test("describeScene refuses two objects a caption could not tell apart", () => {
  const box = (x: number) => ({ x0: x, y0: 10, x1: x + 40, y1: 50 });
  assert.throws(
    () => describeScene([{ shape: "circle", colour: "red", box: box(0) }, { shape: "circle", colour: "red", box: box(100) }]),
    /red circle/,
  );
});
