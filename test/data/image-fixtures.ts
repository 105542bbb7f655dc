/**
 * Awkward images for the preprocessing and feature-store tests, generated at test time with
 * sharp (no binary fixtures in the repo): every input kind the issue lists.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp, { type Sharp } from "sharp";

/** 300x200: red on the left half, green on the top half, blue 60 everywhere. */
export function quadrants(w = 300, h = 200): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      b[i] = x < w / 2 ? 255 : 0;
      b[i + 1] = y < h / 2 ? 255 : 0;
      b[i + 2] = 60;
    }
  }
  return b;
}

export interface GoodImage {
  name: string;
  /** What it exercises. */
  kind: string;
}

/** Writes the decodable images; returns their names. */
export async function writeGoodImages(dir: string, opts: { huge?: boolean } = {}): Promise<GoodImage[]> {
  mkdirSync(dir, { recursive: true });
  const base = () => sharp(quadrants(), { raw: { width: 300, height: 200, channels: 3 } });
  const out: GoodImage[] = [];
  const add = async (name: string, kind: string, p: Sharp) => {
    await p.toFile(join(dir, name));
    out.push({ name, kind });
  };
  await add("rgb.jpg", "JPEG", base().jpeg({ quality: 95 }));
  await add("rgb.png", "PNG", base().png());
  await add("rgb.webp", "WebP", base().webp({ lossless: true }));
  await add("gray.jpg", "grayscale JPEG", base().toColourspace("b-w").jpeg());
  await add("cmyk.jpg", "CMYK JPEG", base().toColourspace("cmyk").jpeg());
  await add("rgb16.png", "16-bit PNG", base().toColourspace("rgb16").png());
  await add("alpha.png", "PNG with alpha", base().ensureAlpha(0.5).png());
  await add("exif6.jpg", "EXIF orientation 6 (rotate 90 cw)", base().jpeg().withMetadata({ orientation: 6 }));
  await add("one.png", "1x1 PNG", sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png());
  if (opts.huge) {
    await add("huge.jpg", "8000x8000 JPEG", sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 10, g: 200, b: 30 } } }).jpeg());
  }
  return out;
}

/** Writes the unusable files; returns name -> pattern the reported reason must match. */
export function writeBadImages(dir: string): Record<string, RegExp> {
  mkdirSync(dir, { recursive: true });
  const jpeg = readFileSync(join(dir, "rgb.jpg"));
  writeFileSync(join(dir, "truncated.jpg"), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  const corrupt = Buffer.from(jpeg);
  for (let i = 400; i < corrupt.length - 10; i += 37) corrupt[i] ^= 0x5a;
  writeFileSync(join(dir, "corrupt.jpg"), corrupt);
  writeFileSync(join(dir, "empty.jpg"), "");
  writeFileSync(join(dir, "text.jpg"), "hello, I am a text file with a .jpg name\n");
  return {
    "truncated.jpg": /corrupt or truncated/,
    "corrupt.jpg": /corrupt or truncated/,
    "empty.jpg": /empty file/,
    "text.jpg": /not an image/,
    "missing.jpg": /missing file/,
  };
}
