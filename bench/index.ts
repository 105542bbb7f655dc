/**
 * `npm run bench -- [suite ...] [--json] [--quick]`: the project's speed measurements.
 * Suites: engine (training step, native vs reference vs PyTorch), decode (caption latency;
 * sat eval --model on 1,000 images beside a baseline commit),
 * encoder (ResNet-50 images/s), metrics (scoring 5,000 captions), serve (`sat serve` under
 * load; --model DIR to load-test a real model). Default: all of them.
 * Human-readable lines by default; --json prints one JSON object per measurement and line.
 */
import { Command } from "commander";
import { runEngineBench } from "./engine.js";
import { runMetricsBench } from "./metrics.js";
import { runEncoderBench } from "./encoder.js";
import { runDecodeBench } from "./decode.js";
import { runServeBench } from "./serve.js";

type Suite = (opts: { json: boolean; quick: boolean; model?: string; features?: string }) => Promise<void>;
const SUITES: Record<string, Suite> = {
  engine: runEngineBench,
  decode: runDecodeBench,
  encoder: runEncoderBench,
  metrics: runMetricsBench,
  serve: runServeBench,
};

const program = new Command()
  .name("npm run bench --")
  .description("speed benchmarks of show-attend-tell")
  .argument("[suites...]", `which to run: ${Object.keys(SUITES).join(", ")} (default: all)`)
  .option("--json", "one JSON object per line instead of text", false)
  .option("--quick", "fewer repetitions (a smoke run, noisier numbers)", false)
  .option("--model <dir>", "serve: the model directory to load-test (default: a random Flickr8k-size model); decode: a trained Flickr8k model, timed on the test split of $SAT_FLICKR8K")
  .option("--features <dir>", "decode --model: the feature store of $SAT_FLICKR8K")
  .action(async (names: string[], opts: { json: boolean; quick: boolean; model?: string; features?: string }) => {
    const chosen = names.length ? names : Object.keys(SUITES);
    for (const n of chosen) {
      if (!SUITES[n]) {
        console.error(`bench: unknown suite "${n}" (known: ${Object.keys(SUITES).join(", ")})`);
        process.exit(2);
      }
    }
    for (const n of chosen) await SUITES[n](opts);
  });

await program.parseAsync(process.argv);
