// Caption files as they come from other tools and editors: byte-order marks, CRLF and lone-CR
// line ends are read as the same data; images or captions listed twice, captions with no
// words, files that are not regular files and image folders that hold none of the images are
// DatasetErrors naming the file, the line or entry, and the field.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { DatasetError } from "../../src/errors.js";
import { checkImagesPresent, loadDataset } from "../../src/data/datasets.js";

const FIX = resolve(import.meta.dirname, "../fixtures/data");

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "sat-dsv-"));
}

function refused(path: string, pattern: RegExp, opts: Parameters<typeof loadDataset>[1] = {}): void {
  assert.throws(
    () => loadDataset(path, opts),
    (e: unknown) => e instanceof DatasetError && pattern.test(e.message) && !e.message.includes("\n"),
    String(pattern),
  );
}

/** The fixture Flickr8k folder, with its token file rewritten by `edit`. */
function flickrWith(edit: (token: string) => string): string {
  const dir = join(tmp(), "flickr8k");
  cpSync(join(FIX, "flickr8k"), dir, { recursive: true });
  const p = join(dir, "Flickr8k.token.txt");
  writeFileSync(p, edit(readFileSync(p, "utf8")));
  return dir;
}

const summary = (path: string) => loadDataset(path).images.map((im) => [im.id, im.split, im.captions]);

test("BOM, CRLF and lone CR line ends read as the same dataset", () => {
  const plain = summary(join(FIX, "flickr8k"));
  assert.deepEqual(summary(flickrWith((t) => "\uFEFF" + t)), plain, "BOM");
  assert.deepEqual(summary(flickrWith((t) => t.replace(/\n/g, "\r\n"))), plain, "CRLF");
  assert.deepEqual(summary(flickrWith((t) => t.replace(/\n/g, "\r"))), plain, "lone CR");
  const jsonl = readFileSync(join(FIX, "custom.jsonl"), "utf8");
  const want = summary(join(FIX, "custom.jsonl"));
  for (const [name, text] of [["bom", "\uFEFF" + jsonl], ["crlf", jsonl.replace(/\n/g, "\r\n")], ["cr", jsonl.replace(/\n/g, "\r")]]) {
    const dir = tmp();
    const p = join(dir, `${name}.jsonl`);
    writeFileSync(p, text);
    assert.deepEqual(summary(p).map(([id, split, caps]) => [id, split, caps]), want.map(([id, split, caps]) => [String(id).replace(FIX, dir), split, caps]), name);
  }
  // Karpathy and COCO JSON with a BOM: JSON.parse alone refuses it.
  const dir = tmp();
  const k = join(dir, "dataset_flickr8k.json");
  writeFileSync(k, "\uFEFF" + readFileSync(join(FIX, "dataset_flickr8k.json"), "utf8"));
  assert.equal(loadDataset(k).format, "karpathy");
});

test("a caption number listed twice in the Flickr8k token file is refused with both lines", () => {
  refused(flickrWith((t) => t + "b.jpg#1\tMen playing a game again .\n"), /Flickr8k\.token\.txt:12: caption 'b\.jpg#1' appears twice \(also line 8\)/);
});

test("an image listed twice in Karpathy or COCO JSON is refused", () => {
  const dir = tmp();
  const k = JSON.parse(readFileSync(join(FIX, "dataset_flickr8k.json"), "utf8"));
  k.images.push(structuredClone(k.images[0]));
  const kp = join(dir, "dataset_flickr8k.json");
  writeFileSync(kp, JSON.stringify(k));
  refused(kp, new RegExp(`images\\[${k.images.length - 1}\\]: image 'a\\.jpg' is listed twice \\(also images\\[0\\]\\)`));
  const coco = JSON.parse(readFileSync(join(FIX, "coco/annotations/captions_val2014.json"), "utf8"));
  const c1 = structuredClone(coco);
  c1.images.push({ ...c1.images[0], file_name: "other.jpg" });
  const cp1 = join(dir, "captions_val2014.json");
  writeFileSync(cp1, JSON.stringify(c1));
  refused(cp1, /images\[2\]: field 'id' \d+ is listed twice/);
  const c2 = structuredClone(coco);
  c2.images.push({ ...c2.images[0], id: 999 });
  writeFileSync(cp1, JSON.stringify(c2));
  refused(cp1, /images\[2\]: field 'file_name' '.*' is listed twice/);
});

test("empty and punctuation-only captions are refused, naming the line", () => {
  refused(flickrWith((t) => t + "d.jpg#1\t . \n"), /Flickr8k\.token\.txt:12: field 'caption' has no words \(only punctuation: "\."\)/);
  refused(flickrWith((t) => t + "d.jpg#1\t\n"), /Flickr8k\.token\.txt:12: field 'caption' has no words \(empty\)/);
  const dir = tmp();
  const j = join(dir, "d.jsonl");
  writeFileSync(j, '{"image": "x.png", "caption": "a dog", "split": "train"}\n{"image": "x.png", "caption": "?! ...", "split": "train"}\n');
  refused(j, /d\.jsonl:2: field 'caption' has no words \(only punctuation/);
  const c = join(dir, "d.csv");
  writeFileSync(c, 'image,caption,split\r\nx.png,"",train\r\n');
  refused(c, /d\.csv:2: field 'caption' has no words \(empty\)/);
  const k = JSON.parse(readFileSync(join(FIX, "dataset_flickr8k.json"), "utf8"));
  k.images[1].sentences[0].raw = "   ";
  const kp = join(dir, "dataset_flickr8k.json");
  writeFileSync(kp, JSON.stringify(k));
  refused(kp, /images\[1\]\.sentences\[0\]: field 'caption' has no words/);
});

test("caption files that are folders or FIFOs are refused without hanging", () => {
  const dir = tmp();
  mkdirSync(join(dir, "captions.jsonl"));
  refused(join(dir, "captions.jsonl"), /captions\.jsonl: is a folder, not a regular file/, { format: "jsonl" });
  execFileSync("mkfifo", [join(dir, "fifo.jsonl")]);
  refused(join(dir, "fifo.jsonl"), /fifo\.jsonl: is a FIFO, not a regular file/);
  const f = flickrWith((t) => t);
  execFileSync("rm", [join(f, "Flickr_8k.devImages.txt")]);
  execFileSync("mkfifo", [join(f, "Flickr_8k.devImages.txt")]);
  refused(f, /Flickr_8k\.devImages\.txt: is a FIFO/);
});

test("missing images: an image folder that does not exist, or holds none of the images", () => {
  refused(join(FIX, "custom.jsonl"), /no-such-images: the image folder does not exist/, { imageRoot: join(tmp(), "no-such-images") });
  const ds = loadDataset(join(FIX, "custom.jsonl"), { imageRoot: tmp() });
  assert.throws(() => checkImagesPresent(ds.images), (e: unknown) => e instanceof DatasetError && /none of the 3 images exist \(e\.g\. 'imgs\/one\.png' is not at .*\): is the image folder right\?/.test(e.message));
  // One image present is enough: the others are each image's problem (the store records them).
  const root = tmp();
  mkdirSync(join(root, "imgs"));
  writeFileSync(join(root, "imgs/two.png"), "");
  assert.doesNotThrow(() => checkImagesPresent(loadDataset(join(FIX, "custom.jsonl"), { imageRoot: root }).images));
});
