/**
 * One pipeline stage as a child process of the project's own `sat` CLI. The child's id is
 * recorded in `<out>/child.json` while it runs: a pipeline killed with SIGKILL cannot take
 * its child with it, so the next run stops that leftover (it would otherwise keep writing
 * into the stage's folder) before it starts the stage again.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.js";

/** How to start `sat`: the Node binary and the arguments before the command (loader, entry point). */
export interface SatCommand {
  command: string;
  prefix: string[];
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The last lines of stderr, for a failure's message. */
  stderrTail: string[];
}

function childFile(out: string): string {
  return join(out, "child.json");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `pid` is alive and is a `sat` child of this run folder (its command line names the folder). */
function isOurChild(pid: number, out: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.split("\0").some((a) => a === out || a.startsWith(`${out}/`));
  } catch {
    return false; // gone (or no /proc to tell: then it is not killed on a guess)
  }
}

/** Stops a stage process that a killed earlier run left behind, and waits until it is gone. */
export async function stopLeftoverChild(out: string): Promise<number | null> {
  const file = childFile(out);
  if (!existsSync(file)) return null;
  let pid: number | null = null;
  try {
    pid = Number((JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown }).pid) || null;
  } catch {
    pid = null; // torn file: the write is atomic, so this is not ours
  }
  if (pid !== null && isOurChild(pid, out)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited between the check and the kill
    }
    for (let i = 0; i < 200 && isOurChild(pid, out); i++) await sleep(50);
  }
  rmSync(file, { force: true });
  return pid;
}

/**
 * Runs `sat <args>` to its end. stderr lines go to `onLine` as they come (progress); stdout
 * is collected. `signalChild` forwards a signal to the running child.
 */
export function runSat(
  sat: SatCommand,
  out: string,
  stage: string,
  args: string[],
  onLine: (line: string) => void,
): { done: Promise<ChildResult>; signalChild: (s: NodeJS.Signals) => void } {
  const child = spawn(sat.command, [...sat.prefix, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid !== undefined) writeFileAtomic(childFile(out), `${JSON.stringify({ pid: child.pid, stage })}\n`);
  const stdout: string[] = [];
  const tail: string[] = [];
  let partial = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => stdout.push(s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    const parts = (partial + s).split(/[\r\n]+/);
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 20) tail.shift();
      onLine(line);
    }
  });
  const done = new Promise<ChildResult>((resolveDone) => {
    child.on("error", (e) => {
      tail.push(e.message);
      resolveDone({ code: null, signal: null, stdout: stdout.join(""), stderrTail: tail });
    });
    child.on("close", (code, signal) => {
      if (partial.trim()) tail.push(partial);
      rmSync(childFile(out), { force: true });
      resolveDone({ code, signal, stdout: stdout.join(""), stderrTail: tail });
    });
  });
  return {
    done,
    signalChild: (s) => {
      if (child.exitCode === null) child.kill(s);
    },
  };
}
