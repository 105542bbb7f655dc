// The option parsers: every numeric flag rejects a blank value (Number("") is 0, so without the
// guard `--clip ""` would silently mean "clipping off") and values outside its range.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "commander";
import {
  parseFraction,
  parseNonNegativeInt,
  parseNonNegativeNumber,
  parsePositiveInt,
  parsePositiveNumber,
} from "../../src/cli/parse.js";

const parsers = { parseFraction, parseNonNegativeInt, parseNonNegativeNumber, parsePositiveInt, parsePositiveNumber };

test("every numeric parser rejects blank and non-numeric values, naming the flag", () => {
  for (const [name, parse] of Object.entries(parsers)) {
    for (const bad of ["", "  ", "abc", "NaN", "Infinity"]) {
      assert.throws(() => parse("--flag", bad), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith("--flag "), `${name}(${JSON.stringify(bad)})`);
    }
  }
});

test("ranges: zero, negatives, fractions and 1 go where each parser says", () => {
  assert.equal(parseNonNegativeInt("--n", "0"), 0);
  assert.equal(parseNonNegativeInt("--n", " 7 "), 7);
  assert.throws(() => parseNonNegativeInt("--n", "-1"), InvalidArgumentError);
  assert.throws(() => parseNonNegativeInt("--n", "1.5"), InvalidArgumentError);
  assert.throws(() => parsePositiveInt("--n", "0"), InvalidArgumentError);
  assert.equal(parsePositiveInt("--n", "3"), 3);
  assert.equal(parseNonNegativeNumber("--x", "0"), 0);
  assert.equal(parseNonNegativeNumber("--x", "0.7"), 0.7);
  assert.throws(() => parseNonNegativeNumber("--x", "-0.1"), InvalidArgumentError);
  assert.throws(() => parsePositiveNumber("--x", "0"), InvalidArgumentError);
  assert.equal(parsePositiveNumber("--x", "5e-4"), 0.0005);
  assert.equal(parseFraction("--ema", "0"), 0);
  assert.equal(parseFraction("--ema", "0.999"), 0.999);
  assert.throws(() => parseFraction("--ema", "1"), InvalidArgumentError);
  assert.throws(() => parseFraction("--ema", "-0.5"), InvalidArgumentError);
});

test("the message names the flag, the accepted range and the value given", () => {
  assert.throws(() => parseFraction("--ema", "1"), { message: '--ema must be a number in [0, 1) (got "1")' });
  assert.throws(() => parsePositiveInt("--beam", "0"), { message: '--beam must be a positive integer (got "0")' });
  assert.throws(() => parseNonNegativeNumber("--clip", ""), { message: '--clip must be a number >= 0 (got "")' });
});
