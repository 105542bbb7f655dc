// One training run in its own process, from JSON options (argv[2]), for tests that SIGKILL it
// (SAT_KILL_AT_WRITE, src/util/fs.ts) and rerun it.
import { runTraining } from "../../src/train/run.js";
import type { TrainRunOptions } from "../../src/train/options.js";

const o = JSON.parse(process.argv[2]) as TrainRunOptions;
await runTraining({ ...o, onWarning: (message) => console.error(`warning: ${message}`) });
