/**
 * `<out>/state.json`: what a reproduction run is (its data, seeds and protocol) and which of
 * its stages are finished, with their outputs and results. It is rewritten atomically after
 * every stage, so a run killed at any moment finds either the state before that stage or the
 * one after it; a stage not marked done here is run again (training stages resume).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "../util/fs.js";

export const STATE_FORMAT = "show-attend-tell/reproduce-state";

/** What the run was started with: rerunning with anything else is refused. */
export interface RunIdentity {
  protocol: string;
  protocolVersion: number;
  protocolHash: string;
  data: string;
  seeds: number[];
}

export interface StageRecord {
  /** Wall-clock seconds of the attempts that ran to their end (a SIGKILLed attempt is not counted). */
  seconds: number;
  /** How many times the stage was started. */
  attempts: number;
  done: boolean;
  /** Files the stage wrote, relative to the run folder. */
  outputs?: Record<string, string>;
  /** What the stage measured (scores, steps, ...), as the report needs it. */
  result?: Record<string, unknown>;
}

export interface RunState {
  format: typeof STATE_FORMAT;
  version: 1;
  identity: RunIdentity;
  stages: Record<string, StageRecord>;
}

export function statePath(out: string): string {
  return join(out, "state.json");
}

/** The field of the identity that differs, as a refusal names it; null when they agree. */
export function identityMismatch(recorded: RunIdentity, now: RunIdentity): string | null {
  if (recorded.data !== now.data) return `--data was ${recorded.data}, now ${now.data}`;
  if (recorded.seeds.join(",") !== now.seeds.join(",")) return `--seeds was ${recorded.seeds.join(",")}, now ${now.seeds.join(",")}`;
  if (recorded.protocol !== now.protocol) return `protocol was ${recorded.protocol}, now ${now.protocol}`;
  if (recorded.protocolVersion !== now.protocolVersion) return `protocol version was ${recorded.protocolVersion}, now ${now.protocolVersion}`;
  if (recorded.protocolHash !== now.protocolHash) return `protocol (its arguments or configs) changed: hash was ${recorded.protocolHash.slice(0, 12)}, now ${now.protocolHash.slice(0, 12)}`;
  return null;
}

/**
 * Opens the run's state: a new one when the folder has none, else the recorded one, which
 * must have been started with the same identity.
 */
export function openState(out: string, identity: RunIdentity): RunState {
  const path = statePath(out);
  if (!existsSync(path)) return { format: STATE_FORMAT, version: 1, identity, stages: {} };
  let j: RunState;
  try {
    j = JSON.parse(readFileSync(path, "utf8")) as RunState;
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (j?.format !== STATE_FORMAT || j.version !== 1 || !j.identity || typeof j.stages !== "object") throw new UserError(`${path}: format: not a sat reproduce state file`);
  const differs = identityMismatch(j.identity, identity);
  if (differs) throw new UserError(`${out}: this run was started with other arguments (${differs}); use another --out or the same arguments`);
  return j;
}

export function saveState(out: string, s: RunState): void {
  writeFileAtomic(statePath(out), `${JSON.stringify(s, null, 2)}\n`);
}
