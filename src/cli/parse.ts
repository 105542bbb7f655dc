/** Option parsers for commander: each rejects bad input with a message naming the flag. */
import { InvalidArgumentError } from "commander";

/**
 * Number(v) if `ok` accepts it, else an error "<flag> must be <what>". A blank value is NaN
 * (Number("") is 0, which would turn `--clip ""` into 0), so no check accepts it.
 */
function checkedNumber(flag: string, v: string, ok: (n: number) => boolean, what: string): number {
  const n = v.trim() === "" ? Number.NaN : Number(v);
  if (!ok(n)) throw new InvalidArgumentError(`${flag} must be ${what} (got "${v}")`);
  return n;
}

export function parsePositiveInt(flag: string, v: string): number {
  return checkedNumber(flag, v, (n) => Number.isInteger(n) && n > 0, "a positive integer");
}

export function parseNonNegativeInt(flag: string, v: string): number {
  return checkedNumber(flag, v, (n) => Number.isInteger(n) && n >= 0, "a non-negative integer");
}

export function parsePositiveNumber(flag: string, v: string): number {
  return checkedNumber(flag, v, (n) => Number.isFinite(n) && n > 0, "a positive number");
}

export function parseNonNegativeNumber(flag: string, v: string): number {
  return checkedNumber(flag, v, (n) => Number.isFinite(n) && n >= 0, "a number >= 0");
}

export function parseFiniteNumber(flag: string, v: string): number {
  return checkedNumber(flag, v, Number.isFinite, "a finite number");
}

/** A number in [0, 1), e.g. a moving-average decay. */
export function parseFraction(flag: string, v: string): number {
  return checkedNumber(flag, v, (n) => Number.isFinite(n) && n >= 0 && n < 1, "a number in [0, 1)");
}

export function parseChoice<T extends string>(flag: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag} must be one of ${choices.join(", ")} (got "${v}")`);
  return v as T;
}
