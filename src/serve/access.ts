/**
 * Who may talk to `sat serve`, and what a browser may do with its answers. On by default:
 *
 * - Host allow-list. A page on any site can point its own host name at 127.0.0.1 (DNS
 *   rebinding) and then read this server as same-origin; it cannot make the browser send a
 *   Host header other than its own name. So a request is answered only if its Host is an IP
 *   literal, `localhost` (or a `*.localhost` name, which browsers always resolve to loopback),
 *   the name the server is bound to, or a name given with --allow-host. Anything else: 403.
 * - Cross-origin writes. A browser sends Origin on every cross-origin POST; one from an origin
 *   other than the server's own is refused (403) unless --cors names it. Requests without
 *   Origin (curl, scripts) are not browsers acting for another site and pass.
 * - A bearer token (--token), for a server shared on a network: every /v1 route and the API
 *   description need `Authorization: Bearer <token>`, or the cookie the page gets by being
 *   opened once as `/?token=<token>` (HttpOnly, SameSite=Strict, so other sites' requests never
 *   carry it). /healthz stays open for health checks; it reveals only the queue's length.
 * - Headers on every response: a CSP without inline script (the page has none), nosniff,
 *   frame-ancestors 'none' (and X-Frame-Options), no referrer, same-origin resource policy.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { OptionError } from "../errors.js";
import { ApiError } from "./errors.js";

export interface AccessOptions {
  /** Host names (without port) accepted besides IP literals, localhost and the bound host (--allow-host). */
  allowHosts?: readonly string[];
  /** Origins (scheme://host[:port]) allowed to call the API from their pages (--cors). */
  corsOrigins?: readonly string[];
  /** A bearer token every /v1 request must carry (--token). */
  token?: string;
  /** The address the server listens on; a host name here is accepted as Host. */
  boundHost?: string;
}

/**
 * The page's policy: its own scripts, styles and workers only (no inline script or style
 * element, no eval); WebAssembly compilation for tfjs-wasm's in-browser mode; images from
 * data:/blob: URLs (overlays, the chosen photo); never framed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
};

export const TOKEN_COOKIE = "sat_token";
/** Shorter tokens can be guessed over a network; `openssl rand -hex 16` gives 32 characters. */
export const MIN_TOKEN_LENGTH = 16;

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The host name of a Host header value (`name:port`, `[v6]:port`), lowercased, no trailing dot; null if malformed. */
export function hostOf(header: string): string | null {
  let h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    if (end < 0 || (end + 1 < h.length && !/^:\d{1,5}$/.test(h.slice(end + 1)))) return null;
    return h.slice(1, end);
  }
  const colon = h.lastIndexOf(":");
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return null;
    h = h.slice(0, colon);
  }
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** Whether `host` (no port) is one of the loopback names: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

/** Checks --allow-host, --cors and --token values; throws OptionError naming the flag. */
export function checkAccessOptions(o: AccessOptions): void {
  for (const h of o.allowHosts ?? []) {
    if (!HOST_NAME.test(h.toLowerCase()) && !isIP(h)) throw new OptionError(`--allow-host ${JSON.stringify(h)}: not a host name (give it without scheme, port or path)`);
  }
  for (const origin of o.corsOrigins ?? []) {
    let u: URL | null = null;
    try {
      u = new URL(origin);
    } catch {
      u = null;
    }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || u.origin !== origin.replace(/\/$/, "")) {
      throw new OptionError(`--cors ${JSON.stringify(origin)}: not an origin (expected scheme://host[:port], e.g. https://example.org)`);
    }
  }
  if (o.token !== undefined && (o.token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(o.token))) {
    throw new OptionError(`--token must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces (e.g. from: openssl rand -hex 16)`);
  }
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** Routes open without the token: liveness, and the page itself (it gets the token from ?token=). */
function isOpenRoute(path: string): boolean {
  return path === "/healthz" || path === "/" || path.startsWith("/assets/");
}

/** Adds the checks and headers above to every route of `app`. */
export function registerAccess(app: FastifyInstance, o: AccessOptions): void {
  checkAccessOptions(o);
  const allowed = new Set((o.allowHosts ?? []).map((h) => h.toLowerCase()));
  const bound = o.boundHost ? hostOf(o.boundHost.includes(":") && !o.boundHost.startsWith("[") ? `[${o.boundHost}]` : o.boundHost) : null;
  // A wildcard bind names no host: its clients use an IP literal or an --allow-host name.
  if (bound && !isIP(bound)) allowed.add(bound);
  const cors = new Set((o.corsOrigins ?? []).map((x) => x.replace(/\/$/, "")));
  const tokenDigest = o.token !== undefined ? digest(o.token) : null;
  const tokenOk = (t: string | undefined) => t !== undefined && tokenDigest !== null && timingSafeEqual(digest(t), tokenDigest);

  const hostAllowed = (req: FastifyRequest): boolean => {
    const header = req.headers.host;
    if (!header) return false;
    const host = hostOf(header);
    return host !== null && (isIP(host) !== 0 || host === "localhost" || host.endsWith(".localhost") || allowed.has(host));
  };
  const sameOrigin = (req: FastifyRequest, origin: string): boolean => {
    const host = req.headers.host ?? "";
    return origin === `http://${host}` || origin === `https://${host}`;
  };

  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    if (!hostAllowed(req)) {
      throw new ApiError(403, "host_not_allowed", `Host ${JSON.stringify(req.headers.host ?? "")} is not one this server answers to (localhost, an IP address, the bound name, or --allow-host NAME)`);
    }
    const origin = req.headers.origin;
    if (origin && cors.has(origin)) {
      reply.header("access-control-allow-origin", origin);
      reply.header("vary", "Origin");
    }
    const path = req.url.split("?")[0];
    if (req.method === "OPTIONS") return; // the preflight route answers
    if (req.method !== "GET" && req.method !== "HEAD" && origin !== undefined && !sameOrigin(req, origin) && !cors.has(origin)) {
      throw new ApiError(403, "cross_origin", `cross-origin ${req.method} from ${origin} refused (the server allows it only from origins given with --cors)`);
    }
    if (tokenDigest && !isOpenRoute(path)) {
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : undefined;
      if (!tokenOk(bearer) && !tokenOk(cookieValue(req.headers.cookie, TOKEN_COOKIE))) {
        throw new ApiError(401, "unauthorized", "this server needs a token: send 'Authorization: Bearer <token>', or open the page once as /?token=<token>", {
          "www-authenticate": 'Bearer realm="sat serve"',
        });
      }
    }
    if (tokenDigest && path === "/") {
      const given = new URL(req.url, "http://x").searchParams.get("token");
      if (given !== null) {
        if (!tokenOk(given)) throw new ApiError(401, "unauthorized", "wrong token in ?token=");
        // Keep the token out of the address bar and the history: set the cookie, then reload without it.
        reply.header("set-cookie", `${TOKEN_COOKIE}=${encodeURIComponent(given)}; Path=/; HttpOnly; SameSite=Strict`);
        return reply.code(303).header("location", "/").send();
      }
    }
  });

  app.addHook("onSend", async (_req, reply) => {
    reply.headers(SECURITY_HEADERS);
  });

  app.options("*", { schema: { hide: true } }, async (req, reply) => {
    const origin = req.headers.origin;
    if (!origin || !cors.has(origin)) throw new ApiError(403, "cross_origin", `cross-origin requests from ${origin ?? "(no Origin)"} are not allowed (--cors ORIGIN allows one)`);
    return reply
      .code(204)
      .header("access-control-allow-methods", "GET, POST")
      .header("access-control-allow-headers", "content-type, authorization")
      .header("access-control-max-age", "600")
      .send();
  });
}
