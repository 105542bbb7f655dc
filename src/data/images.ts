/**
 * Image decoding and the paper's preprocessing, with sharp: decode (JPEG, PNG, WebP, GIF,
 * TIFF, AVIF...), apply the EXIF orientation, convert to 8-bit sRGB (grayscale, CMYK and
 * 16-bit inputs included), composite any alpha over white, resize so the shorter side is
 * 256, and centre-crop 224x224. The encoder applies its own normalisation afterwards.
 *
 * An image that is already exactly crop x crop is taken as it is: it has been preprocessed
 * before (copies of Flickr8k circulate squashed to 224x224; generated scenes are drawn at
 * that size), and resizing it to 256 and cropping again would cut off its borders.
 */
import { readFile } from "node:fs/promises";
import sharp, { type Metadata, type OutputInfo, type SharpOptions } from "sharp";

export interface PreprocessOptions {
  /** Side of the square crop fed to the encoder (paper: 224). */
  crop: number;
  /** Shorter side after resizing, before the crop (paper: 256). */
  resize: number;
  /** Take images that are already crop x crop as they are (default true). */
  keepExactCrop?: boolean;
}

export const PAPER_PREPROCESS: PreprocessOptions = { crop: 224, resize: 256, keepExactCrop: true };

/** Preprocessing for an encoder whose input is `crop` square, keeping the paper's 256:224 ratio. */
export function preprocessFor(crop: number): PreprocessOptions {
  return { crop, resize: Math.round((crop * 256) / 224), keepExactCrop: true };
}

/**
 * Why an image could not be used. `reason` is one short line from a fixed set of categories
 * (stable, so it can be stored); `detail` is the decoder's own message, which libvips words
 * differently from run to run for the same corrupt file (warning vs error path).
 */
export class ImageError extends Error {
  override name = "ImageError";
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly detail = "",
  ) {
    super(`${file}: ${reason}${detail ? ` (${detail})` : ""}`);
  }
}

export interface PreparedImage {
  /** crop x crop x 3, RGB, row-major, 0..255. */
  pixels: Uint8Array;
  /** Size of the decoded, upright image before resizing. */
  width: number;
  height: number;
  format: string;
}

/** Largest input accepted, in pixels (sharp's default limit is 268 Mpx; 100 Mpx keeps memory sane). */
export const MAX_INPUT_PIXELS = 100_000_000;

/** sharp's largest side for resize(): the image, its shorter side scaled to `resize`, must fit. */
export const MAX_RESIZED_SIDE = 100_000_000;

/** The size prepareImage resizes a w x h image to before the centre crop (shorter side exactly opts.resize). */
export function resizedSize(w: number, h: number, opts: PreprocessOptions): { width: number; height: number } {
  const s = opts.resize / Math.min(w, h);
  return { width: Math.max(opts.resize, Math.round(w * s)), height: Math.max(opts.resize, Math.round(h * s)) };
}

/**
 * Why prepareImage cannot take a w x h image (null if it can): so thin that, with its shorter
 * side scaled up to opts.resize, the longer one passes sharp's limit (a 1 x 40,000,000 PNG).
 */
export function unsupportedShape(w: number, h: number, opts: PreprocessOptions): string | null {
  const r = resizedSize(w, h, opts);
  if (r.width <= MAX_RESIZED_SIDE && r.height <= MAX_RESIZED_SIDE) return null;
  return `${w}x${h} would be resized to ${r.width}x${r.height}, over the decoder's ${MAX_RESIZED_SIDE} px per side (aspect ratio at most ${Math.floor(MAX_RESIZED_SIDE / opts.resize)}:1)`;
}

function classify(file: string, err: unknown): ImageError {
  const msg = String((err as Error)?.message ?? err).split("\n")[0];
  if (/unsupported image format|bad seek|Input (file|buffer) is missing/i.test(msg)) return new ImageError(file, "not an image (unsupported or unrecognised format)", msg.trim());
  if (/pixel limit/i.test(msg)) return new ImageError(file, `image too large (over ${MAX_INPUT_PIXELS / 1e6} Mpx)`, msg.trim());
  return new ImageError(file, "corrupt or truncated image", msg.trim());
}

/** Reads, decodes and preprocesses one image; throws `ImageError` for anything unusable. */
export async function loadImage(file: string, opts: PreprocessOptions = PAPER_PREPROCESS): Promise<PreparedImage> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(file, code === "ENOENT" ? "missing file" : code === "EISDIR" ? "is a folder" : `unreadable (${code ?? String(e)})`);
  }
  return prepareImage(buf, opts, file);
}

/** As `loadImage`, from encoded bytes already in memory. */
export async function prepareImage(buf: Uint8Array, opts: PreprocessOptions = PAPER_PREPROCESS, file = "<buffer>"): Promise<PreparedImage> {
  if (buf.length === 0) throw new ImageError(file, "empty file (0 bytes)");
  // failOn 'warning' turns libjpeg/libpng warnings (truncation, bad CRC) into errors, so a
  // half-written file is reported instead of being encoded with a grey bottom half.
  const sharpOpts: SharpOptions = { failOn: "warning", limitInputPixels: MAX_INPUT_PIXELS, sequentialRead: true };
  let meta: Metadata;
  try {
    meta = await sharp(buf, sharpOpts).metadata();
  } catch (e) {
    throw classify(file, e);
  }
  if (!meta.width || !meta.height) throw new ImageError(file, "not an image (no dimensions)");
  // EXIF orientations 5-8 swap width and height once applied.
  const swap = (meta.orientation ?? 1) >= 5;
  const w = swap ? meta.height : meta.width;
  const h = swap ? meta.width : meta.height;
  const { crop, resize } = opts;
  let p = sharp(buf, sharpOpts).rotate();
  if (!(opts.keepExactCrop !== false && w === crop && h === crop)) {
    // Explicit target size (shorter side exactly `resize`), so the crop offsets are ours.
    const shape = unsupportedShape(w, h, opts);
    if (shape) throw new ImageError(file, "unsupported shape", shape);
    const { width: rw, height: rh } = resizedSize(w, h, opts);
    if (resize < crop) throw new RangeError(`resize (${resize}) must be at least the crop (${crop})`);
    p = p
      .resize(rw, rh, { fit: "fill", kernel: "lanczos3" })
      .extract({ left: Math.floor((rw - crop) / 2), top: Math.floor((rh - crop) / 2), width: crop, height: crop });
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await p
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace("srgb")
      .removeAlpha()
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw classify(file, e);
  }
  const { info, data } = out;
  if (info.width !== crop || info.height !== crop || info.channels !== 3 || data.length !== crop * crop * 3) {
    throw new ImageError(file, `decoded to an unexpected layout ${info.width}x${info.height}x${info.channels}`);
  }
  return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: w, height: h, format: meta.format ?? "unknown" };
}
