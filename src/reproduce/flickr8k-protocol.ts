/**
 * The Flickr8k reproduction protocol: every stage of `sat reproduce flickr8k` and the exact
 * `sat` arguments it runs, in one place. The README's "Reproduce:" commands are these
 * (`sat reproduce flickr8k --print-commands` prints them), so the documented path and the
 * pipeline cannot drift apart.
 *
 * A test (or a quick trial) may point $SAT_REPRODUCE_PROTOCOL at a JSON file of the same
 * shape, e.g. a tiny model trained for a few steps; its config paths are relative to that
 * file. The protocol's identity (name, version, a hash of it and its configs) is recorded in
 * the run's state, so a run is never continued under another protocol.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { UserError } from "../errors.js";
import { packageRoot } from "../util/package-root.js";

/** One training stage: a committed config plus the `sat train` flags after it. */
export interface TrainingProtocol {
  /** Model config file (`--config`), relative to the package root or the override file. */
  config: string;
  /** Flags after --config (optimiser, schedule, validation, length); the seed is added per run. */
  args: string[];
}

export interface ReproduceProtocol {
  name: string;
  /** Raised whenever a stage's arguments change meaning, so old runs are refused. */
  version: number;
  /** Extra `sat features` flags (the default ResNet-50 needs none). */
  features: string[];
  soft: TrainingProtocol;
  /** Fine-tuned from the soft model of the same seed (`--init <soft>/best`). */
  hard: TrainingProtocol;
  /** The decoding grid searched on the dev split; the best dev BLEU-4 is scored on test once. */
  selection: { beams: number[]; lengthPenalties: number[] };
  /** Test images whose attention figures the report shows. */
  figureImages: number;
  /** Expected wall-clock seconds per stage kind on the reference machine, for the ETA only. */
  estimatedSeconds: Record<StageKind, number>;
}

export type StageKind = "features" | "soft" | "hard" | "select" | "test" | "figures";
export const SEED_VARIANTS = ["soft", "hard"] as const;
export type Variant = (typeof SEED_VARIANTS)[number];

/**
 * The project's Flickr8k protocol (README "Reproduce:"): soft attention 12 epochs with Adam
 * and a step schedule, hard attention fine-tuned from it for at most 1,500 steps.
 */
export const FLICKR8K_PROTOCOL: ReproduceProtocol = {
  name: "flickr8k",
  version: 1,
  features: [],
  soft: {
    config: "configs/flickr8k-soft.json",
    args: ["--optimizer", "adam", "--lr", "0.0005", "--lr-schedule", "step", "--lr-decay", "0.5", "--lr-decay-every", "3000", "--val-every", "500", "--val-images", "500", "--checkpoint-every", "250", "--epochs", "12"],
  },
  hard: {
    config: "configs/flickr8k-hard.json",
    args: [
      "--optimizer", "adam", "--lr", "0.00025", "--lr-schedule", "step", "--lr-decay", "0.5", "--lr-decay-every", "2000", "--val-every", "250", "--val-images", "0",
      "--beam", "5", "--length-penalty", "0.7", "--patience", "3", "--checkpoint-every", "250", "--epochs", "8", "--max-steps", "1500",
    ],
  },
  // sat eval's default (beam 3, plain log p) and the README's dev-chosen beam 5 / 0.7, with
  // their neighbours: six decodings of 1,000 dev images, about 25 s each per model.
  selection: { beams: [3, 5], lengthPenalties: [0, 0.7, 1] },
  figureImages: 6,
  estimatedSeconds: { features: 225, soft: 4500, hard: 1080, select: 25, test: 30, figures: 20 },
};

export const PROTOCOL_ENV = "SAT_REPRODUCE_PROTOCOL";

/** The protocol with its config paths made absolute, and the identity a run records. */
export interface ResolvedProtocol extends ReproduceProtocol {
  /** sha256 of the protocol and the contents of its config files. */
  hash: string;
  /** Where it came from: "built-in" or the override file. */
  source: string;
}

function fail(where: string, field: string, what: string): never {
  throw new UserError(`${where}: ${field}: ${what}`);
}

function checkStrings(where: string, field: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) fail(where, field, "expected an array of strings");
  return v as string[];
}

function checkNumbers(where: string, field: string, v: unknown, min: number): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== "number" || !Number.isFinite(x) || x < min)) fail(where, field, `expected a non-empty array of numbers >= ${min}`);
  return v as number[];
}

/** Checks a protocol read from JSON field by field (the override file is user input). */
export function parseProtocol(j: unknown, where: string): ReproduceProtocol {
  if (!j || typeof j !== "object" || Array.isArray(j)) fail(where, "protocol", "expected a JSON object");
  const o = j as Record<string, unknown>;
  if (typeof o.name !== "string" || !o.name) fail(where, "name", "expected a string");
  if (!Number.isInteger(o.version)) fail(where, "version", "expected an integer");
  const training = (field: Variant): TrainingProtocol => {
    const t = o[field] as Record<string, unknown> | undefined;
    if (!t || typeof t !== "object") fail(where, field, "expected {config, args}");
    if (typeof t.config !== "string") fail(where, `${field}.config`, "expected a file path");
    return { config: t.config, args: checkStrings(where, `${field}.args`, t.args) };
  };
  const sel = o.selection as Record<string, unknown> | undefined;
  if (!sel || typeof sel !== "object") fail(where, "selection", "expected {beams, lengthPenalties}");
  const est = (o.estimatedSeconds ?? FLICKR8K_PROTOCOL.estimatedSeconds) as Record<string, unknown>;
  const estimatedSeconds = { ...FLICKR8K_PROTOCOL.estimatedSeconds };
  for (const k of Object.keys(estimatedSeconds) as StageKind[]) {
    if (est[k] === undefined) continue;
    if (typeof est[k] !== "number" || !(est[k] >= 0)) fail(where, `estimatedSeconds.${k}`, "expected seconds >= 0");
    estimatedSeconds[k] = est[k];
  }
  const figureImages = o.figureImages ?? FLICKR8K_PROTOCOL.figureImages;
  if (!Number.isInteger(figureImages) || (figureImages as number) < 0) fail(where, "figureImages", "expected an integer >= 0");
  return {
    name: o.name,
    version: o.version as number,
    features: checkStrings(where, "features", o.features ?? []),
    soft: training("soft"),
    hard: training("hard"),
    selection: {
      beams: checkNumbers(where, "selection.beams", sel.beams, 1).map((b) => (Number.isInteger(b) ? b : fail(where, "selection.beams", "expected integers"))),
      lengthPenalties: checkNumbers(where, "selection.lengthPenalties", sel.lengthPenalties, 0),
    },
    figureImages: figureImages as number,
    estimatedSeconds,
  };
}

/** The protocol in force: $SAT_REPRODUCE_PROTOCOL's file when set, else the built-in one. */
export function loadProtocol(env: NodeJS.ProcessEnv = process.env): ResolvedProtocol {
  const file = env[PROTOCOL_ENV];
  let protocol: ReproduceProtocol;
  let base: string;
  let source: string;
  if (file) {
    source = resolve(file);
    if (!existsSync(source)) throw new UserError(`${source} ($${PROTOCOL_ENV}): no such file`);
    let j: unknown;
    try {
      j = JSON.parse(readFileSync(source, "utf8"));
    } catch (e) {
      throw new UserError(`${source} ($${PROTOCOL_ENV}): not valid JSON (${(e as Error).message})`);
    }
    protocol = parseProtocol(j, source);
    base = dirname(source);
  } else {
    protocol = FLICKR8K_PROTOCOL;
    base = packageRoot();
    source = "built-in";
  }
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const resolved = { ...protocol, soft: { ...protocol.soft, config: abs(protocol.soft.config) }, hard: { ...protocol.hard, config: abs(protocol.hard.config) } };
  const hash = createHash("sha256").update(JSON.stringify({ ...protocol, estimatedSeconds: undefined }));
  for (const v of SEED_VARIANTS) {
    const cfg = resolved[v].config;
    if (!existsSync(cfg)) throw new UserError(`${source}: ${v}.config: ${cfg}: no such file`);
    hash.update(readFileSync(cfg));
  }
  return { ...resolved, hash: hash.digest("hex"), source };
}

/** The files and folders of one run, all under its --out. */
export interface RunLayout {
  data: string;
  out: string;
  features: string;
  trainDir(variant: Variant, seed: number): string;
}

export function runLayout(data: string, out: string): RunLayout {
  return {
    data,
    out,
    features: join(out, "features"),
    trainDir: (variant, seed) => join(out, `${variant}-seed${seed}`),
  };
}

/** A decoding: beam width and length penalty (`--beam`, `--length-penalty`). */
export interface Decoding {
  beam: number;
  lengthPenalty: number;
}

/** The dev grid in a fixed order: beams outer, length penalties inner (ties go to the earlier). */
export function decodingGrid(p: ReproduceProtocol): Decoding[] {
  return p.selection.beams.flatMap((beam) => p.selection.lengthPenalties.map((lengthPenalty) => ({ beam, lengthPenalty })));
}

export function decodingLabel(d: Decoding): string {
  return `beam${d.beam}-lp${d.lengthPenalty}`;
}

/** `sat features` arguments. */
export function featuresArgs(p: ReproduceProtocol, l: RunLayout): string[] {
  return ["features", "--data", l.data, "--out", l.features, ...p.features];
}

/** `sat train` arguments of one variant and seed (without --resume, which the pipeline adds). */
export function trainArgs(p: ReproduceProtocol, l: RunLayout, variant: Variant, seed: number): string[] {
  const t = p[variant];
  const init = variant === "hard" ? ["--init", join(l.trainDir("soft", seed), "best")] : [];
  return ["train", "--data", l.data, "--features", l.features, "--out", l.trainDir(variant, seed), "--config", t.config, ...init, ...t.args, "--seed", String(seed)];
}

/** `sat eval` arguments: decode `split` with a model and score it (dev: BLEU only, as selection needs). */
export function evalArgs(l: RunLayout, model: string, split: "val" | "test", d: Decoding, captions: string): string[] {
  return [
    "eval", "--model", model, "--features", l.features, "--data", l.data, "--split", split,
    "--beam", String(d.beam), "--length-penalty", String(d.lengthPenalty), "--save-captions", captions, "--json",
    ...(split === "val" ? ["--no-meteor"] : []),
  ];
}

/** `sat caption` arguments: the attention figures of some test images. */
export function figureArgs(model: string, images: string[], d: Decoding, dir: string): string[] {
  return ["caption", model, ...images, "--beam", String(d.beam), "--length-penalty", String(d.lengthPenalty), "--json", "--out", dir];
}

/**
 * The protocol as the shell commands a person would type for one seed (the README's
 * "Reproduce:" block), with `--data`/`--out` as given.
 */
export function documentedCommands(p: ReproduceProtocol, l: RunLayout, seed: number): string[] {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  const cmd = (args: string[]) => `npx sat ${args.map(quote).join(" ")}`;
  const root = packageRoot();
  const rel = (args: string[]) => args.map((a) => (a.startsWith(`${root}/`) ? a.slice(root.length + 1) : a));
  const out = [cmd(rel(featuresArgs(p, l)))];
  for (const v of SEED_VARIANTS) out.push(cmd(rel(trainArgs(p, l, v, seed))));
  for (const v of SEED_VARIANTS) {
    out.push(`# dev selection: for each of ${decodingGrid(p).map((d) => `--beam ${d.beam} --length-penalty ${d.lengthPenalty}`).join("; ")}`);
    out.push(cmd(rel(evalArgs(l, join(l.trainDir(v, seed), "best"), "val", { beam: 0, lengthPenalty: 0 }, join(l.out, "select", `${v}-seed${seed}-<decoding>.jsonl`)))).replace("--beam 0 --length-penalty 0", "--beam <b> --length-penalty <a>"));
    out.push(`# then test, once, with the decoding of the best dev BLEU-4`);
    out.push(cmd(rel(evalArgs(l, join(l.trainDir(v, seed), "best"), "test", { beam: 0, lengthPenalty: 0 }, join(l.out, "test", `${v}-seed${seed}.jsonl`)))).replace("--beam 0 --length-penalty 0", "--beam <b> --length-penalty <a>"));
  }
  return out;
}
