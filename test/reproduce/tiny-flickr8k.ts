/**
 * A tiny Flickr8k-layout folder (token file, the three split lists, PNG images of the
 * synthetic shapes task, rendered with sharp) and a protocol for it: a tiny tfjs encoder
 * (test/encoder/tiny-model.ts) and a small model trained for a few hundred steps, enough to
 * caption the shapes with a BLEU-4 above 0 so that dev selection has scores to tell apart;
 * `sat reproduce flickr8k` runs it end to end in seconds per stage.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateSplits, writeImageDataset } from "../../src/data/synthetic/index.js";
import type { ReproduceProtocol } from "../../src/reproduce/flickr8k-protocol.js";
import { buildTinyModel } from "../encoder/tiny-model.js";

export async function writeTinyFlickr8k(dir: string): Promise<void> {
  const splits = generateSplits({ train: 32, val: 8, test: 8, seed: 5, maxCaptions: 2 });
  await writeImageDataset(dir, splits);
  const token: string[] = [];
  const lists: Record<string, string[]> = { train: [], val: [], test: [] };
  for (const name of ["train", "val", "test"] as const) {
    for (const s of splits[name]) {
      lists[name].push(`${s.id}.png`);
      s.captions.forEach((c, k) => token.push(`${s.id}.png#${k}\t${c.text}`));
    }
  }
  writeFileSync(join(dir, "Flickr8k.token.txt"), `${token.join("\n")}\n`);
  writeFileSync(join(dir, "Flickr_8k.trainImages.txt"), `${lists.train.join("\n")}\n`);
  writeFileSync(join(dir, "Flickr_8k.devImages.txt"), `${lists.val.join("\n")}\n`);
  writeFileSync(join(dir, "Flickr_8k.testImages.txt"), `${lists.test.join("\n")}\n`);
}

/** Writes the tiny protocol (and its encoder and configs) into `dir`; returns the protocol file. */
export async function writeTinyProtocol(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const encoder = await buildTinyModel(join(dir, "encoder"), 16);
  const sizes = { embedDim: 16, hiddenDim: 24, attnDim: 16, dropout: 0 };
  writeFileSync(join(dir, "soft.json"), JSON.stringify({ ...sizes, attention: "soft" }));
  writeFileSync(join(dir, "hard.json"), JSON.stringify({ ...sizes, attention: "hard" }));
  const common = ["--optimizer", "adam", "--batch-size", "8", "--beam", "1", "--val-images", "0"];
  const protocol: ReproduceProtocol = {
    name: "flickr8k-tiny",
    version: 1,
    features: ["--encoder", encoder, "--layer", "mixed", "--scale", "1/255"],
    soft: { config: "soft.json", args: [...common, "--lr", "0.01", "--val-every", "40", "--checkpoint-every", "20", "--epochs", "40"] },
    hard: { config: "hard.json", args: [...common, "--lr", "0.002", "--val-every", "10", "--checkpoint-every", "5", "--epochs", "5", "--max-steps", "30"] },
    selection: { beams: [1, 2], lengthPenalties: [0.7] },
    figureImages: 2,
    estimatedSeconds: { features: 5, soft: 10, hard: 8, select: 3, test: 3, figures: 3 },
  };
  const file = join(dir, "protocol.json");
  writeFileSync(file, JSON.stringify(protocol, null, 2));
  return file;
}
