// node --import tsx bench/engine-cli.ts [--json] [--quick] [--native-only]
import { runEngineBench } from "./engine.js";

await runEngineBench({ json: process.argv.includes("--json"), quick: process.argv.includes("--quick") });
