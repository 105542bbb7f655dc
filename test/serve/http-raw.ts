/**
 * HTTP requests with headers fetch() will not send (Host, a missing Host), for the access
 * tests and the fuzzer; answers are read whole, with a deadline so a hang fails the test.
 */
import { request } from "node:http";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(
  url: string,
  o: { method?: string; path?: string; headers?: Record<string, string>; body?: Uint8Array; setHost?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method: o.method ?? "GET", path: o.path ?? "/", headers: o.headers ?? {}, setHost: o.setHost ?? true },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The error code of a JSON error body ("" if it is not one). */
export function errorCodeOf(r: RawResponse): string {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code ?? "";
  } catch {
    return "";
  }
}
