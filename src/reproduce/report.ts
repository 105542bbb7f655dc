/**
 * The report of a reproduction run, generated from its state and logs: `<out>/report.json`
 * and `<out>/report.md` with a table in the form of Xu et al. (2015) Table 1 (the paper's
 * Flickr8k rows beside ours, per seed and mean ± standard deviation over seeds), what dev
 * selection chose and why, wall-clock time per stage, the machine and the commit, and the
 * training curves (SVG, one line per seed and the mean). Everything but the times is a
 * function of the finished stages, so an interrupted and resumed run reports the same.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.js";
import { packageRoot } from "../util/package-root.js";
import { renderSeedCurves, type TrainingCurves } from "../viz/curves.js";
import { SEED_VARIANTS, type Decoding, type ResolvedProtocol, type RunLayout, type Variant } from "./flickr8k-protocol.js";
import { modelName, selectionOf, type EvalScores } from "./pipeline.js";
import type { RunState } from "./state.js";

/** Xu et al. (2015) Table 1, Flickr8k (BLEU without brevity penalty; METEOR with paraphrases). */
export const PAPER_FLICKR8K: Record<Variant, { bleu: number[]; meteor: number }> = {
  soft: { bleu: [67, 44.8, 29.9, 19.5], meteor: 18.93 },
  hard: { bleu: [67, 45.7, 31.4, 21.3], meteor: 20.3 },
};

const METRICS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"] as const;

/** The seven numbers of a Table 1 row, x100 (CIDEr-D too, as papers print it); null where absent. */
function row(s: EvalScores, bp: boolean): (number | null)[] {
  return [...(bp ? s.bleu : s.bleu_nobp).map((x) => 100 * x), s.meteor === null ? null : 100 * s.meteor, 100 * s.rouge_l, 100 * s.cider];
}

export interface MeanSd {
  mean: number;
  /** Sample standard deviation (n - 1); null with one seed. */
  sd: number | null;
}

export function meanSd(xs: number[]): MeanSd {
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  if (xs.length < 2) return { mean, sd: null };
  return { mean, sd: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) };
}

interface VariantReport {
  seeds: { seed: number; decoding: Decoding; steps: number | null; stoppedBy: string | null; test: EvalScores; devBleu4: number }[];
  /** x100, per metric, without and with brevity penalty. */
  mean: { noBp: (MeanSd | null)[]; withBp: (MeanSd | null)[] };
  selection: { seed: number; grid: { decoding: Decoding; devBleu4: number }[]; selected: Decoding }[];
  validations: { seed: number; points: { step: number; bleu4: number }[] }[];
}

export interface ReproduceReport {
  format: "show-attend-tell/reproduce-report";
  protocol: { name: string; version: number; hash: string; source: string };
  data: string;
  /** The seeds reported: those whose soft and hard models are both scored on test. */
  seeds: number[];
  /** The run's seeds (`--seeds`); more than `seeds` while the run is unfinished. */
  plannedSeeds: number[];
  metrics: typeof METRICS;
  scale: string;
  paper: typeof PAPER_FLICKR8K;
  variants: Record<Variant, VariantReport>;
  selectionRule: string;
  figures: Record<string, unknown>;
  commit: string;
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; node: string };
  /** Wall-clock seconds per stage, and per seed end to end (the only fields that differ between equal runs). */
  timings: { stages: Record<string, number>; oneSeedSeconds: Record<string, number> };
}

interface LogEntry {
  type: string;
  step: number;
  nllPerWord?: number;
  entropy?: number;
  bleu4?: number;
}

/**
 * A run's curves from its log.jsonl. A resumed run logs again the steps after its last
 * checkpoint; they are the same steps recomputed bit for bit, so the last entry of each step
 * is kept.
 */
export function readCurves(logFile: string): TrainingCurves {
  const steps = new Map<number, LogEntry>();
  const vals = new Map<number, LogEntry>();
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.trim()) continue;
    let e: LogEntry;
    try {
      e = JSON.parse(line) as LogEntry;
    } catch {
      continue; // the line a SIGKILL cut short; its step is logged again after the resume
    }
    if (e.type === "step") steps.set(e.step, e);
    else if (e.type === "validation") vals.set(e.step, e);
  }
  const sorted = (m: Map<number, LogEntry>) => [...m.values()].sort((a, b) => a.step - b.step);
  return {
    loss: sorted(steps).map((e) => ({ step: e.step, value: e.nllPerWord! })),
    entropy: sorted(steps).map((e) => ({ step: e.step, value: e.entropy! })),
    bleu4: sorted(vals).map((e) => ({ step: e.step, value: e.bleu4! })),
  };
}

function commitOf(): string {
  const git = (args: string[]) => execFileSync("git", args, { cwd: packageRoot(), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const head = git(["rev-parse", "HEAD"]);
    return git(["status", "--porcelain", "--untracked-files=no"]) ? `${head} (with uncommitted changes)` : head;
  } catch {
    const pj = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
    return `show-attend-tell ${pj.version} (not a git checkout)`;
  }
}

export const SELECTION_RULE =
  "per model, the decoding (beam width, length penalty) of the grid with the best dev-split BLEU-4 (coco-caption, with brevity penalty), ties to the earlier grid point; chosen before any test scoring, test scored once with it";

function buildVariant(state: RunState, protocol: ResolvedProtocol, layout: RunLayout, variant: Variant, seeds: number[]): VariantReport {
  const seedRows: VariantReport["seeds"] = [];
  const selection: VariantReport["selection"] = [];
  const validations: VariantReport["validations"] = [];
  for (const seed of seeds) {
    const sel = selectionOf(state, protocol, variant, seed)!;
    const train = state.stages[`train-${modelName(variant, seed)}`].result as { steps: number | null; stoppedBy: string | null };
    const test = state.stages[`test-${modelName(variant, seed)}`].result as unknown as EvalScores;
    const devBleu4 = sel.grid.find((g) => g.decoding === sel.selected)!.dev.bleu[3];
    seedRows.push({ seed, decoding: sel.selected, steps: train.steps, stoppedBy: train.stoppedBy, test: { bleu: test.bleu, bleu_nobp: test.bleu_nobp, meteor: test.meteor, rouge_l: test.rouge_l, cider: test.cider }, devBleu4 });
    selection.push({ seed, grid: sel.grid.map((g) => ({ decoding: g.decoding, devBleu4: g.dev.bleu[3] })), selected: sel.selected });
    const curves = readCurves(join(layout.trainDir(variant, seed), "log.jsonl"));
    validations.push({ seed, points: curves.bleu4.map((p) => ({ step: p.step, bleu4: p.value })) });
  }
  const stat = (bp: boolean) =>
    METRICS.map((_, i) => {
      const xs = seedRows.map((r) => row(r.test, bp)[i]);
      return xs.some((x) => x === null) ? null : meanSd(xs as number[]);
    });
  return { seeds: seedRows, mean: { noBp: stat(false), withBp: stat(true) }, selection, validations };
}

/** The seeds whose every model has its test score: the ones a report can show. */
export function finishedSeeds(state: RunState, seeds: number[]): number[] {
  return seeds.filter((seed) => SEED_VARIANTS.every((v) => state.stages[`test-${modelName(v, seed)}`]?.done));
}

export function buildReport(state: RunState, protocol: ResolvedProtocol, layout: RunLayout, plannedSeeds: number[]): ReproduceReport {
  const seeds = finishedSeeds(state, plannedSeeds);
  const variants = Object.fromEntries(SEED_VARIANTS.map((v) => [v, buildVariant(state, protocol, layout, v, seeds)])) as Record<Variant, VariantReport>;
  // Finished stages only: an unfinished run's report leaves out the stage it stopped in.
  const stages = Object.fromEntries(Object.entries(state.stages).filter(([, r]) => r.done).map(([id, r]) => [id, Math.round(r.seconds * 10) / 10]));
  const oneSeedSeconds: Record<string, number> = {};
  for (const seed of seeds) {
    const own = Object.keys(state.stages).filter((id) => id.includes(`-seed${seed}`) && !id.startsWith("figures"));
    oneSeedSeconds[`seed ${seed}`] = Math.round(((state.stages.features?.seconds ?? 0) + own.reduce((a, id) => a + state.stages[id].seconds, 0)) * 10) / 10;
  }
  const cpu = cpus();
  return {
    format: "show-attend-tell/reproduce-report",
    protocol: { name: protocol.name, version: protocol.version, hash: protocol.hash, source: protocol.source },
    data: layout.data,
    seeds,
    plannedSeeds,
    metrics: METRICS,
    scale: "x100; BLEU without brevity penalty as the paper's Table 1, and with it as coco-caption; METEOR 1.5 without the paraphrase module",
    paper: PAPER_FLICKR8K,
    variants,
    selectionRule: SELECTION_RULE,
    figures: Object.fromEntries(SEED_VARIANTS.map((v) => [v, state.stages[`figures-${v}`]?.result ?? null])),
    commit: commitOf(),
    machine: { cpu: cpu[0]?.model.trim() ?? "unknown", cores: cpu.length, memoryGiB: Math.round(totalmem() / 2 ** 30), platform: `${process.platform} ${process.arch}`, node: process.version },
    timings: { stages, oneSeedSeconds },
  };
}

function cell(m: MeanSd | number | null, digits = 2): string {
  if (m === null) return "—";
  if (typeof m === "number") return m.toFixed(digits);
  return m.sd === null ? m.mean.toFixed(digits) : `${m.mean.toFixed(digits)} ± ${m.sd.toFixed(digits)}`;
}

function duration(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return h ? `${h} h ${m} min` : `${Math.round(s / 60)} min`;
}

function decodingText(d: Decoding): string {
  return `beam ${d.beam}, length penalty ${d.lengthPenalty}`;
}

const TITLE: Record<Variant, string> = { soft: "Soft-Attention", hard: "Hard-Attention" };

export function reportMarkdown(r: ReproduceReport): string {
  const n = r.seeds.length;
  const head = `| | ${METRICS.map((m) => (m === "METEOR" ? "METEOR (no paraphrase)" : m)).join(" | ")} |`;
  const sep = `|---|${METRICS.map(() => "---:").join("|")}|`;
  const lines: string[] = [
    `# Flickr8k reproduction (${r.protocol.name} protocol v${r.protocol.version})`,
    "",
    `Generated by \`sat reproduce flickr8k\` from the run's own logs; seeds ${r.seeds.join(", ")}; test split, each model scored once with the decoding chosen on dev.`,
    "",
    ...(r.seeds.length < r.plannedSeeds.length ? [`**Unfinished run:** ${r.seeds.length} of the ${r.plannedSeeds.length} seeds (${r.plannedSeeds.join(", ")}) are finished; rerun the same command to continue.`, ""] : []),
    `## Table 1 form (x100)`,
    "",
    `The paper's rows are BLEU without brevity penalty, and METEOR with its paraphrase module; ours give BLEU both without (as the paper) and with the brevity penalty (coco-caption), and METEOR 1.5 **without** the paraphrase module, so METEOR is not strictly comparable. Ours: mean ± sample standard deviation over ${n} seed${n > 1 ? "s" : ""}.`,
    "",
    head,
    sep,
  ];
  for (const v of SEED_VARIANTS) {
    const p = r.paper[v];
    const vr = r.variants[v];
    lines.push(`| ${TITLE[v]}, Xu et al. 2015 (no BP) | ${[...p.bleu.map((x) => String(x)), p.meteor.toFixed(2), "—", "—"].join(" | ")} |`);
    lines.push(`| ${TITLE[v]}, ours, no BP | ${vr.mean.noBp.map((m) => cell(m)).join(" | ")} |`);
    lines.push(`| ${TITLE[v]}, ours, with BP | ${vr.mean.withBp.map((m, i) => (i < 4 ? cell(m) : "")).join(" | ")} |`);
  }
  lines.push("", "## Per seed (x100, test)", "", `| model | seed | decoding | steps | ${METRICS.join(" | ")} | BLEU-4 with BP |`, `|---|---:|---|---:|${METRICS.map(() => "---:").join("|")}|---:|`);
  for (const v of SEED_VARIANTS) {
    for (const s of r.variants[v].seeds) {
      lines.push(`| ${v} | ${s.seed} | ${decodingText(s.decoding)} | ${s.steps ?? "?"} (${s.stoppedBy ?? "?"}) | ${row(s.test, false).map((x) => cell(x)).join(" | ")} | ${cell(100 * s.test.bleu[3])} |`);
    }
  }
  lines.push("", "## Decoding selection (dev split, before any test scoring)", "", `Rule: ${r.selectionRule}.`, "");
  for (const v of SEED_VARIANTS) {
    for (const s of r.variants[v].selection) {
      const grid = s.grid.map((g) => `${decodingText(g.decoding)}: ${(100 * g.devBleu4).toFixed(2)}`).join("; ");
      lines.push(`- ${v} seed ${s.seed}: **${decodingText(s.selected)}** (dev BLEU-4 of the grid: ${grid})`);
    }
  }
  lines.push("", "## Training curves", "");
  for (const v of SEED_VARIANTS) lines.push(`![${v} training curves](curves-${v}.svg)`, "");
  lines.push("## Attention figures (test images)", "");
  for (const v of SEED_VARIANTS) {
    const f = r.figures[v] as { model: string; skipped?: string; figures?: { image: string; caption: string; figure: string }[] } | null;
    if (!f) continue;
    if (f.skipped) lines.push(`- ${f.model}: not drawn (${f.skipped})`);
    else for (const x of f.figures ?? []) lines.push(`- ${f.model}, ${x.image}: "${x.caption}" — [figure](${x.figure})`);
  }
  lines.push("", "## Wall clock and machine", "", `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.platform}, Node ${r.machine.node}. Commit: ${r.commit}.`, "");
  lines.push("Times count the attempts that ran to their end (an attempt killed with SIGKILL is not counted).", "", "| stage | wall clock |", "|---|---:|");
  for (const [id, s] of Object.entries(r.timings.stages)) lines.push(`| ${id} | ${duration(s)} |`);
  for (const [seed, s] of Object.entries(r.timings.oneSeedSeconds)) lines.push(`| one ${seed} end to end (features, soft, hard, selection, test) | ${duration(s)} |`);
  lines.push("");
  return lines.join("\n");
}

/**
 * Writes report.json, report.md and the curves of each variant into the run folder, over the
 * seeds finished so far (an unfinished run says so at its top).
 */
export function writeReport(state: RunState, protocol: ResolvedProtocol, layout: RunLayout, plannedSeeds: number[]): ReproduceReport {
  const report = buildReport(state, protocol, layout, plannedSeeds);
  const seeds = report.seeds;
  for (const v of SEED_VARIANTS) {
    const runs = seeds
      .map((seed) => ({ name: `seed ${seed}`, log: join(layout.trainDir(v, seed), "log.jsonl") }))
      .filter((x) => existsSync(x.log))
      .map((x) => ({ name: x.name, curves: readCurves(x.log) }));
    writeFileAtomic(join(layout.out, `curves-${v}.svg`), renderSeedCurves(runs, `${TITLE[v]}: ${runs.length} seed${runs.length > 1 ? "s" : ""}`));
  }
  writeFileAtomic(join(layout.out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileAtomic(join(layout.out, "report.md"), reportMarkdown(report));
  return report;
}

