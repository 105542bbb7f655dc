// The server's scheduling, made deterministic with a stand-in worker (fake-worker.ts) that
// blocks its thread for a fixed time per image: the event loop stays free while a caption is
// computed, the bounded queue refuses with 429, timeouts drop queued jobs (503) and fail
// running ones (504), a client that hangs up leaves the queue, and a crashed worker fails
// only its own request and is replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { startServer, type RunningServer } from "../../src/serve/index.js";
import type { FakeBehaviour } from "./fake-worker.js";
import { makeTinyModel } from "./fixtures.js";

const FAKE = new URL("./fake-worker.ts", import.meta.url);
let model: string | undefined;

async function serve(behaviour: FakeBehaviour, o: { queueLimit?: number; timeoutMs?: number; concurrency?: number } = {}): Promise<RunningServer> {
  model ??= await makeTinyModel();
  return startServer({
    modelDir: model,
    port: 0,
    workerModule: FAKE,
    workerData: behaviour,
    concurrency: o.concurrency ?? 1,
    queueLimit: o.queueLimit ?? 4,
    limits: { timeoutMs: o.timeoutMs ?? 30_000 },
    log: () => {},
  });
}

/** A PNG `width` pixels wide (the fake worker answers "w<width>"). */
function image(width: number): Promise<Buffer> {
  return sharp({ create: { width, height: 8, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toBuffer();
}

function post(s: RunningServer, bytes: Buffer, signal?: AbortSignal, query = ""): Promise<Response> {
  return fetch(`${s.url}/v1/captions${query}`, { method: "POST", headers: { "content-type": "image/png" }, body: new Uint8Array(bytes), signal });
}

type Queue = { running: number; waiting: number; limit: number; concurrency: number };
async function queue(s: RunningServer): Promise<Queue> {
  return ((await (await fetch(`${s.url}/healthz`)).json()) as { queue: Queue }).queue;
}

/** Polls /healthz until `ok` (at most 10 s): admission order is then known, not guessed. */
async function until(s: RunningServer, ok: (q: Queue) => boolean, what: string): Promise<Queue> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const q = await queue(s);
    if (ok(q)) return q;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(q)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

test("/healthz answers while a worker is busy captioning (captioning is off the event loop)", async () => {
  const s = await serve({ delayMs: 2000 });
  try {
    const job = post(s, await image(11));
    await until(s, (q) => q.running === 1, "the job to start");
    // The worker blocks its own thread for 2 s; the main thread must answer meanwhile.
    const t0 = performance.now();
    const q = await queue(s);
    const ms = performance.now() - t0;
    assert.equal(q.running, 1);
    assert.ok(ms < 500, `healthz took ${ms.toFixed(0)} ms while a caption ran`);
    const res = await job;
    assert.equal(res.status, 200);
    const j = (await res.json()) as { captions: { text: string }[]; timing: { queueMs: number; totalMs: number } };
    assert.equal(j.captions[0].text, "w11");
    assert.ok(j.timing.totalMs >= 2000);
  } finally {
    await s.close(500);
  }
});

test("queue full: N running + M waiting are admitted, the next gets 429 with Retry-After, the admitted finish", async () => {
  const s = await serve({ delayMs: 800 }, { concurrency: 1, queueLimit: 2 });
  try {
    const admitted = [post(s, await image(21))];
    await until(s, (q) => q.running === 1, "job 1 running");
    admitted.push(post(s, await image(22)));
    await until(s, (q) => q.waiting === 1, "job 2 waiting");
    admitted.push(post(s, await image(23)));
    await until(s, (q) => q.waiting === 2, "job 3 waiting");
    const refused = await post(s, await image(24));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(await errorCode(refused), "queue_full");
    // FIFO: each admitted request gets its own image's caption.
    const texts = await Promise.all(admitted.map(async (p) => ((await (await p).json()) as { captions: { text: string }[] }).captions[0].text));
    assert.deepEqual(texts, ["w21", "w22", "w23"]);
    assert.deepEqual(await queue(s), { running: 0, waiting: 0, limit: 2, concurrency: 1 });
  } finally {
    await s.close(500);
  }
});

test("a free worker takes every waiting job of the same decoding options as one batch, in queue order", async () => {
  const s = await serve({ delayMs: 600 }, { concurrency: 1, queueLimit: 4 });
  try {
    const first = post(s, await image(71));
    await until(s, (q) => q.running === 1, "job 1 running");
    const b = post(s, await image(72));
    const greedy = post(s, await image(73), undefined, "?beam=1");
    const c = post(s, await image(74));
    await until(s, (q) => q.waiting === 3, "jobs 2-4 waiting");
    const answer = async (p: Promise<Response>) => ((await (await p).json()) as { captions: { text: string; logProb: number }[] }).captions[0];
    const [r1, r2, r3, r4] = await Promise.all([first, b, greedy, c].map(answer));
    // The fake worker's logProb is minus its batch size: jobs 2 and 4 went together, job 3
    // (beam 1) after them on its own.
    assert.deepEqual([r1, r2, r3, r4].map((r) => [r.text, r.logProb]), [["w71", -1], ["w72", -2], ["w73", -1], ["w74", -2]]);
  } finally {
    await s.close(500);
  }
});

test("timeouts: the running job's request gets 504, the queued one 503 and is dropped from the queue", async () => {
  const s = await serve({ delayMs: 2000 }, { timeoutMs: 600 });
  try {
    const t0 = performance.now();
    const running = post(s, await image(31));
    await until(s, (q) => q.running === 1, "job 1 running");
    const queued = post(s, await image(32));
    await until(s, (q) => q.waiting === 1, "job 2 waiting");
    const [r1, r2] = await Promise.all([running, queued]);
    assert.equal(r1.status, 504);
    assert.equal(await errorCode(r1), "caption_timeout");
    assert.equal(r2.status, 503);
    assert.equal(await errorCode(r2), "queue_timeout");
    // Answered at the timeout, not when the 2 s job finished.
    assert.ok(performance.now() - t0 < 1800, "504 came at the timeout");
    // The timed-out queued job was dropped: once job 1's result arrives (and is discarded)
    // the worker is idle. Had job 2 been kept, it would run until ~4 s.
    assert.deepEqual(await until(s, (q) => q.running === 0, "the worker to finish job 1"), { running: 0, waiting: 0, limit: 4, concurrency: 1 });
    assert.ok(performance.now() - t0 < 3500, "no second 2 s job ran");
  } finally {
    await s.close(500);
  }
});

test("a client that hangs up leaves the queue", async () => {
  const s = await serve({ delayMs: 1500 });
  try {
    const running = post(s, await image(41));
    await until(s, (q) => q.running === 1, "job 1 running");
    const ac = new AbortController();
    const gone = post(s, await image(42), ac.signal).catch((e: Error) => e);
    await until(s, (q) => q.waiting === 1, "job 2 waiting");
    ac.abort();
    assert.equal((await gone as Error).name, "AbortError");
    await until(s, (q) => q.waiting === 0, "job 2 to leave the queue");
    assert.equal((await running).status, 200);
    // Job 2 was removed, not merely answered: nothing runs after job 1 (the next job would be
    // dispatched before job 1's response is sent).
    assert.deepEqual(await queue(s), { running: 0, waiting: 0, limit: 4, concurrency: 1 });
  } finally {
    await s.close(500);
  }
});

test("a worker crash fails only its request; the worker is replaced and the queue goes on", async () => {
  const s = await serve({ delayMs: 300, crashWidth: 13 });
  try {
    const crash = post(s, await image(13));
    await until(s, (q) => q.running === 1, "the crashing job to start");
    const behind = post(s, await image(51));
    const r1 = await crash;
    assert.equal(r1.status, 500);
    const e = (await r1.json()) as { error: { code: string; message: string } };
    assert.equal(e.error.code, "worker_crashed");
    assert.match(e.error.message, /simulated crash/);
    // The job queued behind it runs on the replacement worker.
    const r2 = await behind;
    assert.equal(r2.status, 200);
    assert.equal(((await r2.json()) as { captions: { text: string }[] }).captions[0].text, "w51");
    assert.equal(s.pool.restarts, 1);
    assert.equal((await post(s, await image(52))).status, 200);
  } finally {
    await s.close(500);
  }
});

test("shutdown: close() fails queued requests with 503 shutting_down and stops the workers", async () => {
  const s = await serve({ delayMs: 1500 });
  const running = post(s, await image(61));
  await until(s, (q) => q.running === 1, "job 1 running");
  const queued = post(s, await image(62));
  await until(s, (q) => q.waiting === 1, "job 2 waiting");
  await s.close(100);
  const [r1, r2] = await Promise.all([running, queued]);
  assert.equal(r1.status, 503);
  assert.equal(await errorCode(r1), "shutting_down");
  assert.equal(r2.status, 503);
  assert.equal(await errorCode(r2), "shutting_down");
});
