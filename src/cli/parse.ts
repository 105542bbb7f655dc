/** Option parsers for commander: each rejects bad input with a message naming the flag. */
import { InvalidArgumentError } from "commander";

/** Number(v), except that a blank value is NaN: Number("") is 0, which would turn `--clip ""` into 0. */
function toNumber(v: string): number {
  return v.trim() === "" ? Number.NaN : Number(v);
}

export function parsePositiveInt(flag: string, v: string): number {
  const n = toNumber(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer (got "${v}")`);
  return n;
}

export function parseNonNegativeInt(flag: string, v: string): number {
  const n = toNumber(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer (got "${v}")`);
  return n;
}

export function parsePositiveNumber(flag: string, v: string): number {
  const n = toNumber(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive number (got "${v}")`);
  return n;
}

export function parseChoice<T extends string>(flag: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`${flag} must be one of ${choices.join(", ")} (got "${v}")`);
  return v as T;
}

export function parseNonNegativeNumber(flag: string, v: string): number {
  const n = toNumber(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number >= 0 (got "${v}")`);
  return n;
}

/** A number in [0, 1), e.g. a moving-average decay. */
export function parseFraction(flag: string, v: string): number {
  const n = toNumber(v);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${flag} must be a number in [0, 1) (got "${v}")`);
  return n;
}
