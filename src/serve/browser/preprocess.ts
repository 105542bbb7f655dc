/**
 * The paper's preprocessing in the browser, for the crop the page shows and (in-browser
 * mode) encodes: decode with the browser's own decoder (EXIF orientation applied), flatten
 * alpha over white, resize so the shorter side is `resize`, centre-crop `crop` x `crop`.
 * An image already exactly crop x crop is taken as it is, as src/data/images.ts does.
 *
 * The crop's geometry (sizes and offsets) is the server's to the pixel, and the resizing
 * follows sharp's (resample.ts): the browser decodes, this module resamples, so the crop
 * matches the server's to a grey level or so (an image already crop x crop, such as a
 * rendered scene, is identical byte for byte when the browser decodes it as libvips does:
 * PNG always).
 */
import type { PreprocessOptions } from "../../data/images.js";
import { resizeLikeSharp } from "./resample.js";

export interface CropGeometry {
  /** Size after resizing (the shorter side equals `resize`), or the image's own when taken as it is. */
  width: number;
  height: number;
  /** Top-left corner of the crop in the resized image. */
  left: number;
  top: number;
  /** true when the image was already crop x crop and is used without resampling. */
  asIs: boolean;
}

/** Where the crop lies: the same arithmetic as prepareImage in src/data/images.ts. */
export function cropGeometry(w: number, h: number, o: PreprocessOptions): CropGeometry {
  if (o.keepExactCrop !== false && w === o.crop && h === o.crop) return { width: w, height: h, left: 0, top: 0, asIs: true };
  if (o.resize < o.crop) throw new RangeError(`resize (${o.resize}) must be at least the crop (${o.crop})`);
  const s = o.resize / Math.min(w, h);
  const width = Math.max(o.resize, Math.round(w * s));
  const height = Math.max(o.resize, Math.round(h * s));
  return { width, height, left: Math.floor((width - o.crop) / 2), top: Math.floor((height - o.crop) / 2), asIs: false };
}

export interface PreparedCrop {
  /** crop x crop x 3, RGB, row-major, 0..255 (the encoder's input). */
  rgb: Uint8Array;
  size: number;
  /** The decoded image's size, upright. */
  width: number;
  height: number;
}

/** RGBA canvas pixels to packed RGB. */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array): Uint8Array {
  const n = rgba.length / 4;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    rgb[3 * p] = rgba[4 * p];
    rgb[3 * p + 1] = rgba[4 * p + 1];
    rgb[3 * p + 2] = rgba[4 * p + 2];
  }
  return rgb;
}

/** Packed RGB to canvas ImageData (opaque). */
export function rgbToImageData(rgb: Uint8Array, size: number): ImageData {
  const img = new ImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    img.data[4 * p] = rgb[3 * p];
    img.data[4 * p + 1] = rgb[3 * p + 1];
    img.data[4 * p + 2] = rgb[3 * p + 2];
    img.data[4 * p + 3] = 255;
  }
  return img;
}

export class DecodeError extends Error {
  override name = "DecodeError";
}

/** Whether the bytes start like a JPEG (sharp decodes those at reduced scale when it can). */
async function isJpeg(file: Blob): Promise<boolean> {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
}

/** Decodes an image file and cuts the crop the model sees. Throws DecodeError for what the browser cannot decode. */
export async function prepareCrop(file: Blob, o: PreprocessOptions): Promise<PreparedCrop> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    throw new DecodeError("this browser cannot decode the image");
  }
  const { width, height } = bitmap;
  let rgb: Uint8Array;
  try {
    // The decoded image at its own size, flattened over white (as the server does first).
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new DecodeError("no 2D canvas available");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(bitmap, 0, 0);
    rgb = rgbaToRgb(ctx.getImageData(0, 0, width, height).data);
  } finally {
    bitmap.close();
  }
  const g = cropGeometry(width, height, o);
  if (g.asIs) return { rgb, size: o.crop, width, height };
  const resized = resizeLikeSharp(rgb, width, height, g.width, g.height, { jpeg: await isJpeg(file) });
  const crop = new Uint8Array(o.crop * o.crop * 3);
  for (let y = 0; y < o.crop; y++) crop.set(resized.subarray(((y + g.top) * g.width + g.left) * 3, ((y + g.top) * g.width + g.left + o.crop) * 3), y * o.crop * 3);
  return { rgb: crop, size: o.crop, width, height };
}
