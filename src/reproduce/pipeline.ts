/**
 * `sat reproduce flickr8k`: the protocol of src/reproduce/flickr8k-protocol.ts run stage by
 * stage, each stage a child process of the `sat` CLI (features, soft training per seed, the
 * hard fine-tune from each soft model, dev-set decoding selection per model, one test
 * evaluation per selected model, attention figures), then the report.
 *
 * Resumable at every point: `<out>/state.json` records the finished stages (src/reproduce/
 * state.ts), a finished stage is never redone, a training stage that was interrupted
 * continues with `sat train --resume` from its checkpoint, and any other interrupted stage
 * runs again (features resume by themselves; evaluation writes its captions atomically).
 * Training is deterministic given the seed and its resume is bit-exact, so a run killed
 * anywhere ends with the numbers of an uninterrupted one.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { loadDataset } from "../data/datasets.js";
import { UserError } from "../errors.js";
import {
  decodingGrid,
  decodingLabel,
  evalArgs,
  featuresArgs,
  figureArgs,
  runLayout,
  SEED_VARIANTS,
  trainArgs,
  type Decoding,
  type ResolvedProtocol,
  type RunLayout,
  type StageKind,
  type Variant,
} from "./flickr8k-protocol.js";
import { runSat, stopLeftoverChild, type ChildResult, type SatCommand } from "./child.js";
import { openState, saveState, type RunState, type StageRecord } from "./state.js";
import { makeOutputDir, readableDir } from "../util/fs.js";

/** What the pipeline tells its caller (the CLI prints these, or writes them as JSON lines). */
export type ReproduceEvent =
  | { event: "run"; out: string; stages: number; done: number; protocol: string }
  | { event: "stage"; stage: string; kind: StageKind; index: number; stages: number; status: "start" | "skipped" | "done" | "interrupted"; seconds?: number; resumed?: boolean; etaSeconds?: number }
  | { event: "progress"; stage: string; done: number; total: number; etaSeconds: number }
  | { event: "validation"; stage: string; step: number; bleu4: number }
  | { event: "finished"; interrupted: boolean };

export interface ReproduceOptions {
  data: string;
  out: string;
  seeds: number[];
  protocol: ResolvedProtocol;
  sat: SatCommand;
  onEvent?: (e: ReproduceEvent) => void;
}

/** Scores as `sat eval --json` prints them (0-1; CIDEr-D unscaled). */
export interface EvalScores {
  bleu: number[];
  bleu_nobp: number[];
  meteor: number | null;
  rouge_l: number;
  cider: number;
}

export interface SelectionResult {
  variant: Variant;
  seed: number;
  grid: { decoding: Decoding; dev: EvalScores }[];
  selected: Decoding;
}

interface Stage {
  id: string;
  kind: StageKind;
  /** Runs the stage; returns its record's outputs and result, or null when interrupted. */
  run(ctx: StageContext): Promise<Pick<StageRecord, "outputs" | "result"> | null>;
}

interface StageContext {
  resumed: boolean;
  exec(args: string[]): Promise<ChildResult | null>;
}

export function modelName(variant: Variant, seed: number): string {
  return `${variant}-seed${seed}`;
}

export function selectStageId(variant: Variant, seed: number, d: Decoding): string {
  return `select-${modelName(variant, seed)}-${decodingLabel(d)}`;
}

/** The decoding with the best dev BLEU-4 (coco-caption, with brevity penalty); ties go to the earlier grid point. */
export function selectDecoding(grid: SelectionResult["grid"]): Decoding {
  let best = grid[0];
  for (const g of grid) if (g.dev.bleu[3] > best.dev.bleu[3]) best = g;
  return best.decoding;
}

export function selectionOf(state: RunState, protocol: ResolvedProtocol, variant: Variant, seed: number): SelectionResult | null {
  const grid: SelectionResult["grid"] = [];
  for (const d of decodingGrid(protocol)) {
    const rec = state.stages[selectStageId(variant, seed, d)];
    if (!rec?.done) return null;
    grid.push({ decoding: d, dev: rec.result as unknown as EvalScores });
  }
  return { variant, seed, grid, selected: selectDecoding(grid) };
}

function parseScores(r: ChildResult, stage: string): EvalScores {
  try {
    const j = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as EvalScores;
    if (!Array.isArray(j.bleu) || j.bleu.length !== 4) throw new Error("no bleu");
    return { bleu: j.bleu, bleu_nobp: j.bleu_nobp, meteor: j.meteor, rouge_l: j.rouge_l, cider: j.cider };
  } catch {
    throw new Error(`${stage}: sat eval printed no scores (${r.stdout.slice(0, 200)})`);
  }
}

/** The child's own one-line error, without its `sat: ` prefix and debugging hint. */
function childMessage(r: ChildResult): string {
  const last = r.stderrTail.at(-1);
  return last ? last.replace(/^sat: (error: )?/, "").replace(/ \(SAT_DEBUG=1 shows the stack\)$/, "") : `exit ${r.code}`;
}

const TRAIN_SUMMARY = /stopped after (\d+) steps \(([\w-]+)\)/;

/** The stage list of a run, in order. Later stages read what earlier ones recorded. */
export function planStages(protocol: ResolvedProtocol, layout: RunLayout, seeds: number[], state: RunState): Stage[] {
  const rel = (p: string) => relative(layout.out, p);
  const stages: Stage[] = [];
  stages.push({
    id: "features",
    kind: "features",
    run: async (ctx) => {
      const r = await ctx.exec([...featuresArgs(protocol, layout), "--json"]);
      if (!r) return null;
      const s = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { images?: number; failed?: unknown[]; encoder?: string; L?: number; D?: number };
      return { outputs: { store: rel(layout.features) }, result: { images: s.images, failed: s.failed?.length ?? 0, encoder: s.encoder, L: s.L, D: s.D } };
    },
  });
  // Seed by seed, so that each seed's scores (and the figures, from the first seed) exist as
  // soon as that seed is trained, and a run spread over several sittings reports as it goes.
  // Selection still precedes test for every model: a model's test is scored only with the
  // decoding its own dev search chose.
  const train = (variant: Variant, seed: number) => {
    const dir = layout.trainDir(variant, seed);
    stages.push({
      id: `train-${modelName(variant, seed)}`,
      kind: variant,
      run: async (ctx) => {
        const canResume = existsSync(readableDir(join(dir, "checkpoint")));
        // Killed before its first checkpoint: nothing to continue, start the run afresh.
        if (!canResume) rmSync(dir, { recursive: true, force: true });
        ctx.resumed = canResume;
        const r = await ctx.exec([...trainArgs(protocol, layout, variant, seed), ...(canResume ? ["--resume"] : [])]);
        if (!r) return null;
        const m = TRAIN_SUMMARY.exec(r.stdout);
        if (!existsSync(join(dir, "best"))) throw new UserError(`${dir}: training ended without a best model (no validation ran: check --val-every and the dev split)`);
        return { outputs: { model: rel(join(dir, "best")), log: rel(join(dir, "log.jsonl")) }, result: { steps: m ? Number(m[1]) : null, stoppedBy: m ? m[2] : null } };
      },
    });
  };
  const select = (variant: Variant, seed: number) => {
    const model = join(layout.trainDir(variant, seed), "best");
    for (const d of decodingGrid(protocol)) {
      const id = selectStageId(variant, seed, d);
      stages.push({
        id,
        kind: "select",
        run: async (ctx) => {
          const captions = join(layout.out, "select", `${modelName(variant, seed)}-${decodingLabel(d)}.jsonl`);
          mkdirSync(dirname(captions), { recursive: true });
          const r = await ctx.exec(evalArgs(layout, model, "val", d, captions));
          if (!r) return null;
          return { outputs: { captions: rel(captions) }, result: parseScores(r, id) as unknown as Record<string, unknown> };
        },
      });
    }
  };
  const test = (variant: Variant, seed: number) => {
    const id = `test-${modelName(variant, seed)}`;
    stages.push({
      id,
      kind: "test",
      run: async (ctx) => {
        const sel = selectionOf(state, protocol, variant, seed);
        if (!sel) throw new Error(`${id}: the dev selection is not finished`);
        const captions = join(layout.out, "test", `${modelName(variant, seed)}.jsonl`);
        mkdirSync(dirname(captions), { recursive: true });
        const r = await ctx.exec(evalArgs(layout, join(layout.trainDir(variant, seed), "best"), "test", sel.selected, captions));
        if (!r) return null;
        return { outputs: { captions: rel(captions) }, result: { decoding: sel.selected, ...parseScores(r, id) } };
      },
    });
  };
  const figures = (variant: Variant, seed: number) => {
    stages.push({
      id: `figures-${variant}`,
      kind: "figures",
      run: async (ctx): Promise<Pick<StageRecord, "outputs" | "result"> | null> => {
        const sel = selectionOf(state, protocol, variant, seed)!;
        const ds = loadDataset(layout.data);
        const images = ds.images.filter((im) => im.split === "test").slice(0, protocol.figureImages);
        const dir = join(layout.out, "figures", variant);
        mkdirSync(dir, { recursive: true });
        const r = await ctx.exec(figureArgs(join(layout.trainDir(variant, seed), "best"), images.map((im) => im.file), sel.selected, dir));
        if (!r) return null;
        // Figures are an illustration, not a result: a model that cannot caption photos
        // (trained on another encoder's features) leaves the report without them.
        if (r.code !== 0) return { outputs: {}, result: { model: modelName(variant, seed), skipped: childMessage(r) } };
        const results = JSON.parse(r.stdout) as { image: string; captions: { text: string }[] }[];
        const figures = results.map((x) => ({ image: relative(layout.data, x.image), caption: x.captions[0]?.text ?? "", figure: rel(join(dir, `attention-${x.image.split("/").pop()!.replace(/\.[^.]+$/, "")}.png`)) }));
        return { outputs: { folder: rel(dir) }, result: { model: modelName(variant, seed), decoding: sel.selected, figures } };
      },
    });
  };
  for (const [i, seed] of seeds.entries()) {
    for (const variant of SEED_VARIANTS) train(variant, seed);
    for (const variant of SEED_VARIANTS) select(variant, seed);
    for (const variant of SEED_VARIANTS) test(variant, seed);
    if (i === 0 && protocol.figureImages > 0) for (const variant of SEED_VARIANTS) figures(variant, seed);
  }
  return stages;
}

/** Seconds a stage of this kind is expected to take: what finished ones took here, else the protocol's estimate. */
function expectedSeconds(kind: StageKind, stages: Stage[], state: RunState, protocol: ResolvedProtocol): number {
  const seen = stages.filter((s) => s.kind === kind).map((s) => state.stages[s.id]).filter((r) => r?.done && r.seconds > 0);
  return seen.length ? seen.reduce((a, r) => a + r.seconds, 0) / seen.length : protocol.estimatedSeconds[kind];
}

const PROGRESS = /(\d+)\/(\d+) \|/;
const VALIDATION = /step (\d+): validation BLEU-4 ([\d.]+)|val BLEU-4 ([\d.]+)/;

/**
 * Runs every unfinished stage in order. Resolves with interrupted = true when a SIGINT/SIGTERM
 * stopped it (the stage in progress stops at a safe point; rerun to continue).
 */
export async function runReproduction(o: ReproduceOptions): Promise<{ state: RunState; layout: RunLayout; interrupted: boolean }> {
  const layout = runLayout(o.data, o.out);
  makeOutputDir(o.out, "--out");
  const state = openState(o.out, { protocol: o.protocol.name, protocolVersion: o.protocol.version, protocolHash: o.protocol.hash, data: o.data, seeds: o.seeds });
  saveState(o.out, state);
  await stopLeftoverChild(o.out);
  const stages = planStages(o.protocol, layout, o.seeds, state);
  const emit = (e: ReproduceEvent) => o.onEvent?.(e);
  emit({ event: "run", out: o.out, stages: stages.length, done: stages.filter((s) => state.stages[s.id]?.done).length, protocol: o.protocol.name });

  let stopSignal: NodeJS.Signals | null = null;
  let forward: ((s: NodeJS.Signals) => void) | null = null;
  const onSignal = (s: NodeJS.Signals) => {
    stopSignal = s;
    forward?.(s);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    for (const [index, stage] of stages.entries()) {
      if (stopSignal) break;
      const base = { stage: stage.id, kind: stage.kind, index: index + 1, stages: stages.length };
      if (state.stages[stage.id]?.done) {
        emit({ ...base, event: "stage", status: "skipped" });
        continue;
      }
      const rec: StageRecord = state.stages[stage.id] ?? { seconds: 0, attempts: 0, done: false };
      rec.attempts++;
      state.stages[stage.id] = rec;
      saveState(o.out, state);
      const laterSeconds = stages.slice(index + 1).filter((s) => !state.stages[s.id]?.done).reduce((a, s) => a + expectedSeconds(s.kind, stages, state, o.protocol), 0);
      const ownSeconds = expectedSeconds(stage.kind, stages, state, o.protocol);
      const started = performance.now();
      const ctx: StageContext = {
        resumed: false,
        exec: async (args) => {
          const child = runSat(o.sat, o.out, stage.id, [...args, ...(stage.kind === "figures" ? [] : ["--progress"])], (line) => {
            const p = PROGRESS.exec(line);
            if (p) {
              const done = Number(p[1]);
              const total = Number(p[2]);
              const elapsed = (performance.now() - started) / 1000;
              const own = done > 0 ? (elapsed * (total - done)) / done : Math.max(0, ownSeconds - elapsed);
              emit({ event: "progress", stage: stage.id, done, total, etaSeconds: own + laterSeconds });
            }
            const v = VALIDATION.exec(line);
            if (v && (stage.kind === "soft" || stage.kind === "hard")) {
              const step = v[1] ? Number(v[1]) : p ? Number(p[1]) : 0;
              emit({ event: "validation", stage: stage.id, step, bleu4: Number(v[2] ?? v[3]) });
            }
          });
          forward = child.signalChild;
          if (stopSignal) child.signalChild(stopSignal);
          const r = await child.done;
          forward = null;
          if (stopSignal || r.code === 130 || r.signal) return null;
          if (r.code !== 0 && stage.kind !== "figures") {
            const last = childMessage(r);
            if (r.code === 2) throw new UserError(`${stage.id}: ${last}`);
            throw new Error(`${stage.id}: sat ${args[0]} failed (exit ${r.code}): ${last}`);
          }
          return r;
        },
      };
      emit({ ...base, event: "stage", status: "start", etaSeconds: ownSeconds + laterSeconds });
      const outcome = await stage.run(ctx);
      rec.seconds += (performance.now() - started) / 1000;
      if (!outcome) {
        saveState(o.out, state);
        emit({ ...base, event: "stage", status: "interrupted", seconds: rec.seconds });
        stopSignal ??= "SIGTERM";
        break;
      }
      Object.assign(rec, outcome, { done: true });
      saveState(o.out, state);
      emit({ ...base, event: "stage", status: "done", seconds: rec.seconds, resumed: ctx.resumed });
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const interrupted = stopSignal !== null;
  emit({ event: "finished", interrupted });
  return { state, layout, interrupted };
}
