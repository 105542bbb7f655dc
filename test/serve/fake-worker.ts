/**
 * A stand-in caption worker for the queue, timeout and crash tests: it speaks the real
 * protocol (src/serve/protocol.ts) but, instead of captioning, blocks its thread for
 * `delayMs` per image of a batch (synchronously, as the native engine and tfjs do) and answers
 * each with a fixed caption, "w<width>", whose logProb is minus the size of its batch (so
 * tests see how the pool batched). An image `crashWidth` pixels wide makes it throw an
 * uncaught error (a crash).
 */
import { parentPort, workerData } from "node:worker_threads";
import sharp from "sharp";
import { loadModel } from "../../src/model/model-dir.js";
import { releaseUpload, type FromWorker, type ToWorker } from "../../src/serve/protocol.js";

export interface FakeBehaviour {
  delayMs: number;
  crashWidth?: number;
}

const behaviour = workerData as FakeBehaviour;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

port.on("message", (msg: ToWorker) => {
  void (async () => {
    if (msg.type === "close") {
      port.close();
      return;
    }
    if (msg.type === "init") {
      const m = loadModel(msg.modelDir);
      send({ type: "ready", info: { meta: m.meta, engine: "reference", inputSize: 16 } });
      return;
    }
    for (const job of msg.jobs) {
      const { width = 0, height = 0, format = "?" } = await sharp(job.bytes).metadata();
      if (width === behaviour.crashWidth) {
        // Crash only after working for delayMs, as a real crash mid-caption would: a job that
        // died at once could come and go between two polls of /healthz.
        Atomics.wait(sleeper, 0, 0, behaviour.delayMs);
        setImmediate(() => {
          throw new Error("fake worker: simulated crash");
        });
        return;
      }
      Atomics.wait(sleeper, 0, 0, behaviour.delayMs); // blocks this thread, like a synchronous encoder
      releaseUpload(job); // as caption-worker.ts does once the image is decoded
      send({
        type: "result",
        id: job.id,
        result: {
          captions: [{ text: `w${width}`, words: [`w${width}`], logProb: -msg.jobs.length, score: -1, finished: false, attention: [{ word: `w${width}`, alpha: [1], beta: 0.5 }] }],
          image: { width, height, format },
          timing: { prepareMs: 0, encodeMs: behaviour.delayMs, decodeMs: 0, overlayMs: 0 },
        },
      });
    }
  })();
});
