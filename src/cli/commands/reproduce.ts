/**
 * `sat reproduce flickr8k`: the paper's Flickr8k table from one resumable command
 * (src/reproduce/pipeline.ts runs it; src/reproduce/flickr8k-protocol.ts says what it runs).
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { documentedCommands, loadProtocol, runLayout } from "../../reproduce/flickr8k-protocol.js";
import { runReproduction, type ReproduceEvent } from "../../reproduce/pipeline.js";
import type { SatCommand } from "../../reproduce/child.js";
import { UserError } from "../errors.js";

interface ReproduceCliOptions {
  data: string;
  out: string;
  seeds: number[];
  progress?: boolean;
  json?: boolean;
  printCommands?: boolean;
}

function parseSeeds(v: string): number[] {
  const seeds = v.split(",").map((s) => s.trim());
  if (seeds.some((s) => !/^\d+$/.test(s))) throw new UserError(`--seeds must be non-negative integers, comma-separated (got "${v}")`);
  const out = seeds.map(Number);
  if (new Set(out).size !== out.length) throw new UserError(`--seeds: a seed is repeated in "${v}"`);
  return out;
}

/** `sat` as this process was started (Node, its loader flags, the CLI entry), for the stages' child processes. */
function thisSat(): SatCommand {
  const js = fileURLToPath(new URL("../index.js", import.meta.url));
  const entry = existsSync(js) ? js : fileURLToPath(new URL("../index.ts", import.meta.url));
  return { command: process.execPath, prefix: [...process.execArgv, entry] };
}

function clock(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(t % 60).padStart(2, "0")}s`;
}

/** One status line on a terminal (rewritten in place), finished stages as lines above it. */
function terminalPrinter(tty: boolean): (e: ReproduceEvent) => void {
  let stageText = "";
  let progressText = "";
  let lastVal = "";
  const status = () => process.stderr.write(`${tty ? "\r\x1b[K" : ""}${stageText}${progressText}${lastVal}${tty ? "" : "\n"}`);
  return (e) => {
    switch (e.event) {
      case "run":
        process.stderr.write(`reproduce ${e.protocol}: ${e.done}/${e.stages} stages done in ${e.out}\n`);
        break;
      case "stage":
        if (e.status === "start") {
          stageText = `[${e.index}/${e.stages}] ${e.stage}`;
          progressText = ` | pipeline ETA ${clock(e.etaSeconds ?? Number.NaN)}`;
          lastVal = "";
          status();
        } else if (e.status === "done" || e.status === "interrupted") {
          process.stderr.write(`${tty ? "\r\x1b[K" : ""}[${e.index}/${e.stages}] ${e.stage}: ${e.status}${e.resumed ? " (resumed)" : ""} in ${clock(e.seconds ?? 0)}\n`);
        }
        break;
      case "progress":
        progressText = ` ${e.done}/${e.total} | pipeline ETA ${clock(e.etaSeconds)}`;
        if (tty) status();
        break;
      case "validation":
        lastVal = ` | last validation BLEU-4 ${e.bleu4.toFixed(2)}${e.step ? ` at step ${e.step}` : ""}`;
        status();
        break;
      case "finished":
        break;
    }
  };
}

export function registerReproduceCommand(program: Command): void {
  program
    .command("reproduce")
    .description("run a paper reproduction end to end, resumably: features, soft and hard training per seed, dev decoding selection, test evaluation, report")
    .argument("<benchmark>", "flickr8k (Xu et al. 2015, Table 1)")
    .requiredOption("--data <dir>", "the Flickr8k folder (Flickr8k.token.txt, the split lists, the images)")
    .requiredOption("--out <dir>", "run folder: features, one folder per model, state.json, report.md/json (rerun the same command to continue)")
    .option("--seeds <list>", "training seeds, comma-separated", parseSeeds, [1, 2, 3])
    .option("--progress", "show progress even when stderr is not a terminal")
    .option("--json", "print machine-readable events, one JSON object per line, on stdout")
    .option("--print-commands", "print the protocol as the sat commands of one seed and exit")
    .action(async (benchmark: string, o: ReproduceCliOptions) => {
      if (benchmark !== "flickr8k") throw new UserError(`reproduce: unknown benchmark "${benchmark}" (known: flickr8k)`);
      const protocol = loadProtocol();
      const data = resolve(o.data);
      const out = resolve(o.out);
      if (o.printCommands) {
        for (const line of documentedCommands(protocol, runLayout(o.data, o.out), o.seeds[0])) console.log(line);
        return;
      }
      if (!existsSync(data)) throw new UserError(`--data ${data}: no such folder`);
      const tty = process.stderr.isTTY && !o.json;
      const print = o.json ? (e: ReproduceEvent) => process.stdout.write(`${JSON.stringify(e)}\n`) : tty || o.progress ? terminalPrinter(tty) : undefined;
      // The report's figures (Vega) load only when a run reaches them, so that other commands start quickly.
      const { finishedSeeds, writeReport } = await import("../../reproduce/report.js");
      const { state, layout, interrupted } = await runReproduction({ data, out, seeds: o.seeds, protocol, sat: thisSat(), onEvent: print });
      if (interrupted) {
        // A run spread over several sittings reports the seeds it has finished each time it stops.
        const partial = finishedSeeds(state, o.seeds).length > 0 ? writeReport(state, protocol, layout, o.seeds) : null;
        process.stderr.write(`${tty ? "\r\x1b[K" : ""}sat: interrupted; rerun the same command to continue${partial ? ` (${out}/report.md has the ${partial.seeds.length} finished seed${partial.seeds.length > 1 ? "s" : ""})` : ""}\n`);
        process.exitCode = 130;
        return;
      }
      const report = writeReport(state, protocol, layout, o.seeds);
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ event: "report", files: [`${out}/report.md`, `${out}/report.json`], variants: Object.fromEntries(Object.entries(report.variants).map(([v, r]) => [v, r.mean])) })}\n`);
        return;
      }
      if (tty) process.stderr.write("\r\x1b[K");
      for (const [v, r] of Object.entries(report.variants)) {
        const b4 = r.mean.noBp[3];
        console.log(`${v}: test BLEU-4 (no BP) ${b4 ? `${b4.mean.toFixed(2)}${b4.sd !== null ? ` ± ${b4.sd.toFixed(2)}` : ""}` : "?"} over ${o.seeds.length} seed(s)`);
      }
      console.log(`report: ${out}/report.md (and report.json)`);
    });
}
