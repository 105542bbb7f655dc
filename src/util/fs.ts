/**
 * Crash-safe file writes. A reader (or a run resumed after SIGKILL) must only ever see the
 * old file or the complete new one, so data goes to a temporary sibling, is fsynced, and is
 * renamed into place; the folder is fsynced too, so the rename itself survives a power cut.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

/** fsync a folder, so that renames and new entries in it are on disk. */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return; // some file systems do not allow opening folders; the rename is then as durable as it gets
  }
  try {
    fsyncSync(fd);
  } catch {
    // EINVAL/EISDIR on file systems without folder fsync: nothing more can be done
  } finally {
    closeSync(fd);
  }
}

/** Writes a file under a temporary name, flushes it to disk and renames it into place. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    crashPoint();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  crashPoint();
  fsyncDir(dirname(path));
}

/**
 * Replaces folder `dir` as a whole. `fill` writes the new contents into `<dir>.tmp` (with
 * writeFileAtomic, so each file is on disk); then `<dir>` becomes `<dir>.old`, `<dir>.tmp`
 * becomes `<dir>`, and only then is `<dir>.old` removed. At every instant `<dir>` or, between
 * the two renames, `<dir>.old` holds a complete copy: readableDir says which.
 */
export function replaceDir(dir: string, fill: (tmp: string) => void): void {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  fill(tmp);
  fsyncDir(tmp);
  if (existsSync(dir)) {
    // <dir> is complete, so an <dir>.old beside it is a leftover of an earlier swap.
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    crashPoint();
  }
  renameSync(tmp, dir);
  fsyncDir(dirname(dir));
  crashPoint();
  rmSync(old, { recursive: true, force: true });
}

/** Where folder `dir`, written by replaceDir, can be read now: itself, or mid-swap its previous copy. */
export function readableDir(dir: string): string {
  return !existsSync(dir) && existsSync(`${dir}.old`) ? `${dir}.old` : dir;
}

/**
 * Crash testing: with SAT_KILL_AT_WRITE=n in the environment, the process kills itself with
 * SIGKILL at its n-th crash point, a step of a file write after which a crash leaves a distinct
 * state on disk (test/train/kill.test.ts walks through them).
 */
const killAt = Number(process.env.SAT_KILL_AT_WRITE ?? 0);
let crashPoints = 0;
export function crashPoint(): void {
  if (killAt > 0 && ++crashPoints === killAt) process.kill(process.pid, "SIGKILL");
}

/** Removes temporary files a killed run left behind. */
export function removeStaleTemps(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (/\.tmp-\d+$/.test(name)) {
      unlinkSync(join(dir, name));
      n++;
    }
  }
  return n;
}
