/**
 * The seeded-random fuzzer's mutators and its oracle. Each pass starts from a valid file,
 * mutates it (bytes, JSON values, or lines), feeds it to the reader, and checks the outcome:
 * either the reader accepts it (and then what it returns must be usable, which each pass
 * checks), or it throws the reader's own UserError subclass with one line naming the file.
 * Anything else (a TypeError, a RangeError, a raw Node error, a message with a stack) fails.
 *
 * Seeds are fixed, so every run tries the same inputs in the same order; a time budget caps
 * a pass on a slow machine (it then tries a prefix of the same sequence), and a failure
 * names its iteration so it can be replayed.
 */
import assert from "node:assert/strict";
import { UserError } from "../../src/errors.js";
import { SeededRandom } from "../../src/util/rng.js";
import type { UserErrorClass } from "../../src/util/fs.js";

export { SeededRandom };

/** Values that break readers which trust types and ranges. */
export const HOSTILE_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 32,
  2 ** 53 + 2,
  "",
  " ",
  "../../etc/passwd",
  "/etc/passwd",
  "a/b",
  "\u0000",
  "\uFEFF",
  "x".repeat(300),
  true,
  false,
  [],
  [null],
  [1, 2],
  {},
  { length: 3 },
];

export function pick<T>(rng: SeededRandom, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** One random byte-level change: flip a bit, overwrite, insert, delete, truncate, duplicate or append. */
export function mutateBytes(rng: SeededRandom, input: Uint8Array): Uint8Array {
  const b = Buffer.from(input);
  const at = (n = b.length) => rng.int(Math.max(1, n));
  switch (rng.int(7)) {
    case 0: {
      if (b.length) b[at()] ^= 1 << rng.int(8);
      return b;
    }
    case 1: {
      for (let k = 0, n = 1 + rng.int(8); k < n && b.length; k++) b[at()] = rng.int(256);
      return b;
    }
    case 2: {
      const i = at(b.length + 1);
      const ins = Buffer.from(Array.from({ length: 1 + rng.int(16) }, () => rng.int(256)));
      return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
    }
    case 3: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + rng.int(64)))]);
    }
    case 4:
      return b.subarray(0, at());
    case 5: {
      const i = at();
      const j = Math.min(b.length, i + 1 + rng.int(256));
      return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
    }
    default:
      return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + rng.int(64) }, () => rng.int(256)))]);
  }
}

/** Every [container, key] in a JSON value (depth-first), so any field can be replaced. */
function slots(v: unknown, out: [Record<string | number, unknown>, string | number][] = []): [Record<string | number, unknown>, string | number][] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v as unknown as Record<number, unknown>, i]);
      slots(x, out);
    });
  } else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots(x, out);
    }
  }
  return out;
}

/** One random change to a parsed JSON document: replace, delete, duplicate or retype a field. */
export function mutateJson(rng: SeededRandom, doc: unknown): unknown {
  const copy = structuredClone(doc);
  const all = slots(copy);
  if (all.length === 0 || rng.next() < 0.03) return pick(rng, HOSTILE_VALUES);
  const [obj, key] = pick(rng, all);
  switch (rng.int(5)) {
    case 0:
      obj[key] = structuredClone(pick(rng, HOSTILE_VALUES));
      break;
    case 1:
      if (Array.isArray(obj)) obj.splice(key as number, 1);
      else delete obj[key];
      break;
    case 2:
      // The same entry twice (an image in two shards, a caption listed twice).
      if (Array.isArray(obj)) obj.splice(key as number, 0, structuredClone(obj[key as number]));
      else obj[key] = [obj[key], obj[key]];
      break;
    case 3: {
      const v = obj[key];
      obj[key] = typeof v === "number" ? pick(rng, [v + 1, v - 1, -v, v * 2, v / 2, String(v)]) : typeof v === "string" ? pick(rng, [`${v}x`, v.slice(1), "", `../${v}`, Number(v.length)]) : pick(rng, HOSTILE_VALUES);
      break;
    }
    default:
      obj[key] = [obj[key]];
  }
  return copy;
}

/** One random change to a text file's lines and line ends. */
export function mutateText(rng: SeededRandom, text: string): string {
  const lines = text.split("\n");
  const i = rng.int(lines.length);
  switch (rng.int(8)) {
    case 0:
      lines.splice(i, 0, lines[i]);
      break;
    case 1:
      lines.splice(i, 1);
      break;
    case 2:
      return text.replace(/\n/g, "\r\n");
    case 3:
      return text.replace(/\n/g, "\r");
    case 4:
      return "\uFEFF" + text;
    case 5:
      lines[i] = pick(rng, ["", " ", "\t", ".", "#", ",,,", "\u0000", '"', "{", "a.jpg#0\t.", "x,\"unterminated"]);
      break;
    case 6:
      lines[i] = lines[i].slice(0, rng.int(lines[i].length + 1));
      break;
    default:
      return Buffer.from(mutateBytes(rng, Buffer.from(text, "utf8"))).toString("latin1");
  }
  return lines.join("\n");
}

/**
 * The oracle for one input: `run` either returns (the reader accepted it) or throws `cls`
 * with a one-line message naming the file (`names`, a path or file name). Returns whether it
 * was accepted.
 */
export function cleanOutcome(what: string, run: () => void, cls: UserErrorClass, names: string): boolean {
  try {
    run();
    return true;
  } catch (e) {
    checkError(what, e, cls, names);
    return false;
  }
}

/** As cleanOutcome, for an async reader. */
export async function cleanOutcomeAsync(what: string, run: () => Promise<void>, cls: UserErrorClass, names: string): Promise<boolean> {
  try {
    await run();
    return true;
  } catch (e) {
    checkError(what, e, cls, names);
    return false;
  }
}

function checkError(what: string, e: unknown, cls: UserErrorClass, names: string): void {
  const msg = String((e as Error)?.message ?? e);
  assert.ok(e instanceof cls && e instanceof UserError, `${what}: threw ${(e as Error)?.name ?? typeof e} (not ${cls.name}): ${msg.slice(0, 300)}\n${(e as Error)?.stack ?? ""}`);
  assert.ok(!msg.includes("\n"), `${what}: message has more than one line: ${JSON.stringify(msg.slice(0, 300))}`);
  assert.ok(!/\n\s+at |node:internal/.test(msg), `${what}: message carries a stack: ${msg.slice(0, 300)}`);
  assert.ok(msg.includes(names), `${what}: message does not name ${names}: ${msg.slice(0, 300)}`);
}

/** Runs `body(rng, i)` for up to `iterations`, stopping early once `budgetMs` has passed. Returns the count run. */
export async function fuzzLoop(seed: number, iterations: number, budgetMs: number, body: (rng: SeededRandom, i: number) => void | Promise<void>): Promise<number> {
  const rng = new SeededRandom(seed);
  const t0 = performance.now();
  let i = 0;
  for (; i < iterations && performance.now() - t0 < budgetMs; i++) await body(rng, i);
  return i;
}
