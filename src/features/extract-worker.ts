/**
 * A feature-extraction worker thread: loads its own copy of the encoder (tfjs-wasm runs one
 * thread per instance under Node, so N workers use N cores) and encodes the shards the main
 * thread hands it. Messages: in {init, spec} / {shard, job} / {stop}; out {ready, id} /
 * {batch, shard, handled, failed} / {shard-done, index} / {error, message}.
 */
import { parentPort } from "node:worker_threads";
import type { Encoder } from "../encoder/encoder.js";
import { loadEncoder, type EncoderSpec } from "../encoder/spec.js";
import { encodeShard, type ShardJob } from "./shard-writer.js";

export type ToWorker = { type: "init"; spec: EncoderSpec } | { type: "shard"; job: Omit<ShardJob, "shouldStop" | "onBatch"> } | { type: "stop" };

const port = parentPort!;
let encoder: Encoder | null = null;
let stop = false;

port.on("message", (msg: ToWorker) => {
  void (async () => {
    try {
      if (msg.type === "init") {
        encoder = await loadEncoder(msg.spec);
        port.postMessage({ type: "ready", id: encoder.id });
      } else if (msg.type === "stop") {
        stop = true;
      } else if (msg.type === "shard") {
        const job = msg.job;
        const index = await encodeShard(
          { ...job, shouldStop: () => stop, onBatch: (handled, failed) => port.postMessage({ type: "batch", shard: job.shard, handled, failed }) },
          encoder!,
        );
        port.postMessage({ type: "shard-done", shard: job.shard, index });
      }
    } catch (e) {
      port.postMessage({ type: "error", message: (e as Error)?.message ?? String(e) });
    }
  })();
});
