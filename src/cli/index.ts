#!/usr/bin/env node
// The `sat` command line. Each command lives in its own module under src/cli/commands and
// registers itself on the shared commander program.
import { Command, CommanderError } from "commander";
import { registerCaptionCommand } from "./commands/caption.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerTrainCommand } from "./commands/train.js";
import { registerEvalCommand } from "./commands/eval.js";
import { registerFeaturesCommand } from "./commands/features.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerReproduceCommand } from "./commands/reproduce.js";
import { UserError } from "./errors.js";
import { packageManifest } from "../util/package-root.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("sat")
    .description("Show, Attend and Tell: attention captioning models (training, captioning, feature extraction, evaluation, serving)")
    .version(packageManifest().version)
    // Usage errors as one line, like every other refused input ("sat: error: ... (run with --help
    // for usage)"); help itself still goes to stdout.
    .configureOutput({ outputError: (message, write) => write(`sat: ${message.trimEnd()} (run with --help for usage)\n`) })
    // Set before the commands are registered, so that they inherit it: main() maps the exit code.
    .exitOverride();
  registerDemoCommand(program);
  registerCaptionCommand(program);
  registerTrainCommand(program);
  registerEvalCommand(program);
  registerFeaturesCommand(program);
  registerServeCommand(program);
  registerReproduceCommand(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // Commander has printed its message. A usage error (unknown option, missing or invalid
    // argument) exits 2 like every other refused input; --help and --version exit 0.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    if (err instanceof UserError) {
      console.error(`sat: ${err.message}`);
      process.exit(2);
    }
    // Anything else is a bug or an environment problem: one line, the stack on request
    // (and never through tfjs-wasm's uncaught-exception hook, which prints its whole source).
    console.error(`sat: error: ${(err as Error)?.message ?? String(err)}${process.env.SAT_DEBUG ? `\n${(err as Error)?.stack ?? ""}` : " (SAT_DEBUG=1 shows the stack)"}`);
    process.exit(1);
  }
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.argv[1]?.endsWith("/sat") || process.argv[1]?.endsWith("cli/index.ts")) {
  void main();
}
