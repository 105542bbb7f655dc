/**
 * The run log, `<out>/log.jsonl`: one JSON object per line (init, gate, step, validation), and
 * the training curves drawn from it. A resumed run continues from its checkpoint, so the log is
 * first cut back to the checkpoint's step: the steps a killed run took after its last
 * checkpoint are taken again, and logged once. A line cut short by a crash is dropped.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { renderTrainingCurves, type TrainingCurves } from "../viz/curves.js";
import { crashPoint, writeFileAtomic } from "../util/fs.js";

interface LogEntry {
  type: string;
  step?: number;
  nllPerWord?: number;
  entropy?: number;
  bleu4?: number;
}

export class RunLog {
  readonly path: string;

  constructor(
    readonly out: string,
    private readonly warn: (message: string) => void,
  ) {
    this.path = join(out, "log.jsonl");
  }

  /** A new run starts a new log with these entries. */
  startFresh(entries: readonly Record<string, unknown>[]): void {
    writeFileAtomic(this.path, entries.map((e) => JSON.stringify(e) + "\n").join(""));
  }

  /** A resumed run keeps the log up to the checkpoint's step and drops what came after it. */
  resumeAt(step: number): void {
    const text = existsSync(this.path) ? readFileSync(this.path, "utf8") : "";
    const lines = text.split("\n");
    const torn = lines.pop()!; // "" when the file ends with a newline, as every whole line does
    if (torn) this.warn(`${this.path}: dropped a torn last line (${torn.length} characters, no newline): the run was killed while writing it`);
    const kept: string[] = [];
    for (const [i, line] of lines.entries()) {
      const entry = this.parse(line, i + 1);
      if (entry === null) continue;
      if (entry.step !== undefined && entry.step > step) break;
      kept.push(line);
    }
    if (kept.length !== lines.length || torn) writeFileAtomic(this.path, kept.map((l) => l + "\n").join(""));
  }

  private parse(line: string, lineNumber: number): LogEntry | null {
    try {
      return JSON.parse(line) as LogEntry;
    } catch {
      this.warn(`${this.path}:${lineNumber}: dropped a line that is not JSON`);
      return null;
    }
  }

  append(entry: Record<string, unknown>): void {
    appendFileSync(this.path, JSON.stringify(entry) + "\n");
    crashPoint();
  }

  /** Flushes the log to disk, so that it holds every step of a checkpoint written after it. */
  sync(): void {
    const fd = openSync(this.path, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Redraws `<out>/curves.svg` from the whole log (a resumed run's earlier steps included). */
  drawCurves(): void {
    const c: TrainingCurves = { loss: [], bleu4: [], entropy: [] };
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (!line) continue;
      const e = JSON.parse(line) as LogEntry;
      if (e.type === "step") {
        c.loss.push({ step: e.step!, value: e.nllPerWord! });
        c.entropy.push({ step: e.step!, value: e.entropy! });
      } else if (e.type === "validation") c.bleu4.push({ step: e.step!, value: e.bleu4! });
    }
    writeFileAtomic(join(this.out, "curves.svg"), renderTrainingCurves(c));
  }
}
