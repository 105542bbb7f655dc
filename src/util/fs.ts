/**
 * Files on disk, both ways. Reads of anything the user gave us go through readRegularFile /
 * readTextFile: regular files only, sizes checked before reading, one-line UserErrors.
 *
 * Crash-safe file writes. A reader (or a run resumed after SIGKILL) must only ever see the
 * old file or the complete new one, so data goes to a temporary sibling, is fsynced, and is
 * renamed into place; the folder is fsynced too, so the rename itself survives a power cut.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../errors.js";

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
  } catch (e) {
    // A full disk or a vanished folder: the old file is untouched; do not leave the half-written one.
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
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

/** A UserError subclass (src/errors.ts) that names the concern of the file being read. */
export type UserErrorClass = new (message: string) => UserError;

export interface ReadCheckedOptions {
  /** The error class thrown for every problem (default UserError). */
  error?: UserErrorClass;
  /** Refuse larger files before reading them. */
  maxBytes?: number;
  /** Refuse files of any other size before reading them (weights, shards: the size follows from the layout). */
  exactBytes?: number;
  /** What the file is, for the messages (e.g. "weights file"). */
  what?: string;
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return "not found";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOTDIR") return "not found (a part of the path is not a folder)";
  if (code === "ELOOP") return "too many symbolic links";
  if (code === "ENAMETOOLONG") return "path too long";
  return `cannot read (${code ?? String((e as Error)?.message ?? e).split("\n")[0]})`;
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Opens a file the user gave us, only if it is a regular file: the open is non-blocking, so a
 * FIFO cannot hang it, and the type is checked on the descriptor, so nothing can be swapped in
 * between check and read. Every problem is one `error` naming the path. The caller closes fd.
 */
export function openRegularFile(path: string, opts: ReadCheckedOptions = {}): { fd: number; size: number } {
  const Err = opts.error ?? UserError;
  const what = opts.what ? `${opts.what} ` : "";
  if (typeof path !== "string" || path === "") throw new Err(`${what}path is empty`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new Err(`${path}: ${what}${errnoText(e)}`);
  }
  const st = fstatSync(fd);
  const fail = (msg: string): never => {
    closeSync(fd);
    throw new Err(`${path}: ${msg}`);
  };
  if (!st.isFile()) fail(`${what}is ${fileKind(st)}, not a regular file`);
  if (opts.exactBytes !== undefined && st.size !== opts.exactBytes) {
    fail(`${what}is ${st.size} bytes, expected ${opts.exactBytes} (${st.size < opts.exactBytes ? "truncated" : "padded or not this file"})`);
  }
  if (opts.maxBytes !== undefined && st.size > opts.maxBytes) fail(`${what}is ${st.size} bytes, over the ${opts.maxBytes}-byte limit for it`);
  return { fd, size: st.size };
}

/** The bytes of a regular file, checked as openRegularFile does. */
export function readRegularFile(path: string, opts: ReadCheckedOptions = {}): Buffer {
  const { fd, size } = openRegularFile(path, opts);
  try {
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) throw new (opts.error ?? UserError)(`${path}: ${opts.what ? `${opts.what} ` : ""}shrank while being read`);
      off += n;
    }
    return buf;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new (opts.error ?? UserError)(`${path}: ${errnoText(e)}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * A text file as a string: UTF-8, a leading byte-order mark dropped (Windows editors write
 * one, and JSON.parse refuses it), checked as openRegularFile does.
 */
export function readTextFile(path: string, opts: ReadCheckedOptions = {}): string {
  return readRegularFile(path, opts).toString("utf8").replace(/^\uFEFF/, "");
}

/** JSON.parse, with a syntax error as one `error` naming `source` (a file, or file:line). */
export function parseJsonText(text: string, source: string, error: UserErrorClass = UserError): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new error(`${source}: not valid JSON (${(e as Error).message})`);
  }
}

/** A JSON file, read as readTextFile does and parsed as parseJsonText does. */
export function readJsonFile(path: string, opts: ReadCheckedOptions = {}): unknown {
  return parseJsonText(readTextFile(path, opts), path, opts.error);
}

/** Splits text into lines at LF, CRLF or a lone CR (old Mac files), so no line keeps a stray \r. */
export function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** A path's stats, or undefined where nothing can be found there (missing, or a file in its path). */
function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Creates an output folder (and its parents), or refuses it in one line naming `flag`: a file
 * in its place or in its path, or a folder that may not be created.
 */
export function makeOutputDir(dir: string, flag: string): void {
  const st = statIfAny(dir);
  if (st && !st.isDirectory()) throw new UserError(`${flag} ${dir}: is a file, not a folder`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOTDIR" || code === "EEXIST" ? "a file stands in its path" : code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "read-only file system" : code === "ENOSPC" ? "no space left on the device" : (e as Error).message;
    throw new UserError(`${flag} ${dir}: cannot create the folder (${why})`);
  }
}

/**
 * Refuses, before any work is done, an output path that cannot be written: a folder, or a
 * file in a folder that does not exist. (`flag` names the option that gave it.)
 */
export function checkOutputPath(path: string, flag: string): void {
  if (statIfAny(path)?.isDirectory()) throw new UserError(`${flag} ${path}: is a folder; give a file name`);
  const dir = dirname(path);
  if (!statIfAny(dir)?.isDirectory()) throw new UserError(`${flag} ${path}: folder ${dir} does not exist`);
}
