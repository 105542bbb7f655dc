/**
 * `sat serve` as a library call: starts the caption workers, builds the HTTP server and
 * listens. `close()` stops accepting connections, lets requests in flight finish for up to
 * `graceMs`, then fails what is left (503 shutting_down) and stops the workers.
 */
import type { FastifyInstance } from "fastify";
import type { EngineChoice } from "../engine/select.js";
import { CaptionPool, type PoolOptions } from "./pool.js";
import { OptionError } from "../errors.js";
import { checkAccessOptions, type AccessOptions } from "./access.js";
import { buildServer, type ServerOptions } from "./server.js";
import { checkLimits, DEFAULT_LIMITS, START_RANGES, type ServerLimits } from "./limits.js";

export { buildServer, type ServerOptions } from "./server.js";
export { checkLimits, DEFAULT_LIMITS, LIMIT_RANGES, START_RANGES, type ServerLimits } from "./limits.js";
export { checkAccessOptions, isLoopbackHost, type AccessOptions } from "./access.js";
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
  /** Host allow-list, --cors origins, bearer token (the bound host is added to the allow-list). */
  access?: Omit<AccessOptions, "boundHost">;
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

/** Checks every option before any worker starts; throws OptionError naming the first bad one. */
export function checkStartOptions(o: StartOptions): void {
  for (const [k, r] of Object.entries(START_RANGES) as [keyof typeof START_RANGES, { min: number; max: number }][]) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < r.min || v > r.max)) throw new OptionError(`${k} must be an integer in [${r.min}, ${r.max}] (got ${JSON.stringify(v)})`);
  }
  checkLimits({ ...DEFAULT_LIMITS, ...o.limits });
  checkAccessOptions(o.access ?? {});
}

export async function startServer(o: StartOptions): Promise<RunningServer> {
  checkStartOptions(o);
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
    const host = o.host ?? "127.0.0.1";
    app = await buildServer({ pool, modelDir: o.modelDir, limits: o.limits, defaults: o.defaults, webRoot: o.webRoot, logError: o.log, access: { ...o.access, boundHost: host } });
    await app.listen({ host, port: o.port ?? 8080 });
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
