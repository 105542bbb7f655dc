/**
 * `sat serve` as a library call: starts the caption workers, builds the HTTP server and
 * listens. `close()` stops accepting connections, lets requests in flight finish for up to
 * `graceMs`, then fails what is left (503 shutting_down) and stops the workers.
 */
import type { FastifyInstance } from "fastify";
import type { EngineChoice } from "../model/engine-factory.js";
import { CaptionPool, type PoolOptions } from "./pool.js";
import { buildServer, type ServerLimits, type ServerOptions } from "./server.js";

export { buildServer, DEFAULT_LIMITS, type ServerLimits, type ServerOptions } from "./server.js";
export { CaptionPool, type PoolOptions } from "./pool.js";
export { ApiError } from "./errors.js";

export interface StartOptions {
  modelDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  engine?: EngineChoice;
  concurrency?: number;
  queueLimit?: number;
  limits?: Partial<ServerLimits>;
  defaults?: ServerOptions["defaults"];
  webRoot?: string;
  /** Test hooks, passed to the pool. */
  workerModule?: PoolOptions["workerModule"];
  workerData?: unknown;
  log?: (line: string) => void;
}

export interface RunningServer {
  app: FastifyInstance;
  pool: CaptionPool;
  url: string;
  close(graceMs?: number): Promise<void>;
}

export async function startServer(o: StartOptions): Promise<RunningServer> {
  const pool = await CaptionPool.start({
    modelDir: o.modelDir,
    engine: o.engine,
    concurrency: o.concurrency,
    queueLimit: o.queueLimit,
    workerModule: o.workerModule,
    workerData: o.workerData,
    log: o.log,
  });
  let app: FastifyInstance;
  try {
    app = await buildServer({ pool, modelDir: o.modelDir, limits: o.limits, defaults: o.defaults, webRoot: o.webRoot, logError: o.log });
    await app.listen({ host: o.host ?? "127.0.0.1", port: o.port ?? 8080 });
  } catch (e) {
    await pool.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : (o.port ?? 8080);
  const host = o.host ?? "127.0.0.1";
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | null = null;
  return {
    app,
    pool,
    url,
    close(graceMs = 5000) {
      closing ??= (async () => {
        // After the grace period: requests still captioning are failed (503), and a moment
        // later every connection is cut, including keep-alive ones that never sent a request
        // (which would otherwise hold app.close() open until the client drops them).
        const timer = setTimeout(() => {
          void pool.close().then(() => setTimeout(() => app.server.closeAllConnections(), 200).unref());
        }, graceMs);
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          await pool.close();
        }
      })();
      return closing;
    },
  };
}
