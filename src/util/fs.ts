/**
 * Crash-safe file writes. A reader (or a run resumed after SIGKILL) must only ever see the
 * old file or the complete new one, so data goes to a temporary sibling, is fsynced, and is
 * renamed into place; the folder is fsynced too, so the rename itself survives a power cut.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
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
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
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
