/**
 * Progress for long work: count, rate and ETA on a terminal (cli-progress), silent when
 * stderr is a pipe or file unless forced (`--progress`), so logs stay clean.
 */
import cliProgress from "cli-progress";

export interface ProgressOptions {
  total: number;
  label: string;
  /** Unit shown with the rate, e.g. "steps", "img". */
  unit?: string;
  /** Show even when stderr is not a TTY. */
  force?: boolean;
}

export class ProgressLine {
  private readonly bar: cliProgress.SingleBar | null;

  constructor(o: ProgressOptions) {
    const enabled = o.force || process.stderr.isTTY;
    this.bar = enabled
      ? new cliProgress.SingleBar(
          {
            format: `${o.label} [{bar}] {value}/{total} | {rate} ${o.unit ?? "steps"}/s | ETA {eta_formatted} | {info}`,
            stream: process.stderr,
            noTTYOutput: !process.stderr.isTTY,
            notTTYSchedule: 10_000,
            etaBuffer: 50,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(o.total, 0, { rate: "0.0", info: "" });
    this.started = performance.now();
  }

  private readonly started: number;

  update(value: number, info = ""): void {
    if (!this.bar) return;
    const secs = (performance.now() - this.started) / 1000;
    this.bar.update(value, { rate: secs > 0 ? (value / secs).toFixed(1) : "0.0", info });
  }

  done(): void {
    this.bar?.stop();
  }
}
