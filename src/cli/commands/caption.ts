/**
 * `sat caption <model> <images or folders...>`: beam-search captions for photos, as text
 * (default) or JSON with scores and per-word attention, optionally with attention figures.
 */
import { readdirSync, statSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { Command } from "commander";
import type { Captioner, ImageCaptions } from "../../decode/captioner.js";
import { DECODE_DEFAULTS } from "../../decode/defaults.js";
import { attentionSigma } from "../../viz/attention-sigma.js";
import type { EngineChoice } from "../../engine/select.js";
import { ModelFileError } from "../../model/model-dir.js";
import { UserError } from "../errors.js";
import { parseChoice, parseNonNegativeInt, parseNonNegativeNumber, parsePositiveInt } from "../parse.js";
import { ProgressLine } from "../progress.js";
import { makeOutputDir, writeFileAtomic } from "../../util/fs.js";

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif", ".heic"]);

interface CaptionCliOptions {
  beam: number;
  maxLength: number;
  top: number;
  lengthPenalty: number;
  allowUnk?: boolean;
  sampleLocations?: number;
  json?: boolean;
  out?: string;
  maps?: boolean;
  batchSize: number;
  engine: EngineChoice;
  progress?: boolean;
}

export function registerCaptionCommand(program: Command): void {
  program
    .command("caption")
    .description("caption photos with a trained model (beam search), with per-word attention")
    .argument("<model>", "model directory (model.json + weights.bin)")
    .argument("<images...>", "image files, or folders whose image files are all captioned")
    .option("--beam <n>", "beam width (1 = greedy)", (v) => parsePositiveInt("--beam", v), DECODE_DEFAULTS.beamWidth)
    .option("--max-length <n>", "most words per caption", (v) => parsePositiveInt("--max-length", v), DECODE_DEFAULTS.maxLength)
    .option("--top <n>", "captions per image, best first (at most the beam width)", (v) => parsePositiveInt("--top", v), DECODE_DEFAULTS.topN)
    .option("--length-penalty <a>", "rank by log p / length^a (0 = plain log p)", (v) => parseNonNegativeNumber("--length-penalty", v), DECODE_DEFAULTS.lengthPenalty)
    .option("--allow-unk", "let captions contain <unk>")
    .option("--sample-locations <seed>", "hard attention: sample locations instead of using the expected α", (v) => parseNonNegativeInt("--sample-locations", v))
    .option("--json", "print JSON: captions, scores, and per word its α over the grid and β")
    .option("--out <dir>", "write an attention figure per image (attention-<name>.png) into this folder")
    .option("--maps", "with --out, also write each word's map alone (attention-<name>-<k>-<word>.png)")
    .option("--batch-size <n>", "images encoded together", (v) => parsePositiveInt("--batch-size", v), 8)
    .option("--engine <kind>", "auto, native or reference", (v) => parseChoice("--engine", v, ["auto", "native", "reference"]), "auto")
    .option("--progress", "show progress even when stderr is not a terminal")
    .action(async (model: string, inputs: string[], o: CaptionCliOptions) => runCaption(model, inputs, o));
}

/** Files as given, folders expanded to their image files (sorted, not recursive). */
export function expandImageArgs(inputs: string[]): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // reported as a missing file, with the others still captioned
      continue;
    }
    if (st.isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(p, f));
      if (files.length === 0) throw new UserError(`${p}: folder has no image files (${[...IMAGE_EXTENSIONS].join(" ")})`);
      out.push(...files);
    } else {
      out.push(p);
    }
  }
  return out;
}

async function runCaption(modelDir: string, inputs: string[], o: CaptionCliOptions): Promise<void> {
  // The figures' folder is made (or refused) before any image is captioned.
  const figuresDir = o.out ? resolve(o.out) : null;
  if (figuresDir) makeOutputDir(figuresDir, "--out");
  // The captioner (encoder, image decoding) and the figures load only when this command runs,
  // so that every other command starts quickly.
  const { Captioner: CaptionerClass } = await import("../../decode/captioner.js");
  let captioner: Captioner;
  try {
    captioner = CaptionerClass.load(modelDir, { engine: o.engine });
  } catch (e) {
    if (e instanceof ModelFileError) throw new UserError(e.message);
    throw e;
  }
  const images = expandImageArgs(inputs);
  const progress = new ProgressLine({ total: images.length, label: "caption", unit: "img", force: o.progress && images.length > 1 });
  const { results, failed, pixels } = await captioner.captionImages(images, {
    beamWidth: o.beam,
    maxLength: o.maxLength,
    topN: o.top,
    lengthPenalty: o.lengthPenalty,
    suppressUnk: !o.allowUnk,
    sampleLocationsSeed: o.sampleLocations,
    batchSize: o.batchSize,
    onProgress: (done) => progress.update(done),
  });
  progress.done();
  for (const f of failed) process.stderr.write(`sat: skipped ${f.error}\n`);
  if (o.json) {
    process.stdout.write(JSON.stringify(results, null, 2) + "\n");
  } else {
    for (const r of results) printText(r);
  }
  if (figuresDir) {
    const { renderAttentionFigure, renderSingleMap } = await import("../../viz/index.js");
    const grid = captioner.grid;
    const size = (await captioner.getEncoder()).inputSize;
    for (const r of results) {
      const best = r.captions[0];
      if (!best || grid[0] !== grid[1]) continue;
      const png = await renderAttentionFigure({
        image: pixels.get(r.image)!,
        words: best.attention.map((a) => a.word),
        alphas: best.attention.map((a) => Float32Array.from(a.alpha)),
        betas: best.attention.map((a) => a.beta),
        // Sampled hard attention: mark the attended cell instead of relying on α alone.
        locations: best.attention.every((a) => a.location !== undefined) ? best.attention.map((a) => a.location!) : undefined,
        grid: grid[0],
        size,
        sigma: attentionSigma(size),
      });
      const stem = `attention-${basename(r.image, extname(r.image))}`;
      const path = join(figuresDir, `${stem}.png`);
      writeFileAtomic(path, png);
      if (!o.json) process.stderr.write(`figure: ${path}\n`);
      if (o.maps) {
        for (const [k, a] of best.attention.entries()) {
          const single = await renderSingleMap({ image: pixels.get(r.image)!, alpha: Float32Array.from(a.alpha), word: a.word, beta: a.beta, location: a.location, grid: grid[0], size, sigma: attentionSigma(size) });
          writeFileAtomic(join(figuresDir, `${stem}-${k}-${a.word.replace(/[^\w-]/g, "_")}.png`), single.png);
        }
      }
    }
  }
  captioner.dispose();
  if (failed.length > 0) {
    process.stderr.write(`sat: ${failed.length} of ${images.length} images could not be read\n`);
    process.exitCode = 1;
  }
}

function printText(r: ImageCaptions): void {
  if (r.captions.length === 1) {
    console.log(`${r.image}\t${r.captions[0].text}`);
    return;
  }
  console.log(r.image);
  for (const c of r.captions) console.log(`  ${c.score.toFixed(3)}\t${c.text}`);
}
