/**
 * Shared by the server tests: a small model whose encoder is a tiny tfjs network (fast, so a
 * caption takes milliseconds; the server's plumbing is the same as with ResNet-50), test
 * images, and malformed uploads.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateSync } from "node:zlib";
import sharp from "sharp";
import { buildTinyCaptionModel } from "../encoder/tiny-model.js";

/** Model directory: tiny encoder 16x16 input -> 8x8 grid x 5 channels, tiny decoder. */
export function makeTinyModel(): Promise<string> {
  return buildTinyCaptionModel(mkdtempSync(join(tmpdir(), "sat-serve-")), ["a red circle", "a blue square above a red circle", "a green star next to a yellow cross"], { note: "serve test model" });
}

/** A 60x40 picture with a red and a blue half (not uniform, so attention varies). */
export function photo(format: "jpeg" | "png" | "webp" = "jpeg"): Promise<Buffer> {
  const w = 60;
  const h = 40;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = x < w / 2 ? 220 : 20;
      raw[i + 1] = (y * 255) / h;
      raw[i + 2] = x < w / 2 ? 30 : 230;
    }
  }
  const s = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  return (format === "jpeg" ? s.jpeg({ quality: 90 }) : format === "png" ? s.png() : s.webp({ lossless: true })).toBuffer();
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A valid PNG header declaring `side` x `side` RGB, followed by ten rows of pixel data only:
 * a few kB that would need side² x 3 bytes (1.2 GB at 20000) to decode. Decoding it fails
 * (truncated), so a 413 image_too_large proves the check read the header without decoding.
 */
export function pngBomb(side = 20000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = deflateSync(Buffer.alloc(10 * (1 + 3 * side)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", rows)]);
}

/** A complete greyscale PNG of w x h (rows of mid-grey): small once deflated, whatever its shape. */
export function thinPng(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc(h * (1 + w), 0x80);
  for (let y = 0; y < h; y++) raw[y * (1 + w)] = 0; // filter byte: none
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk("IHDR", ihdr), pngChunk("IDAT", deflateSync(raw)), pngChunk("IEND", Buffer.alloc(0))]);
}
