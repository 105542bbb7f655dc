/**
 * The folder of this package (the one holding its package.json), found from a module's own
 * location so that it is the same from src/ under tsx, from dist/src/ when compiled, and from
 * node_modules/show-attend-tell/ in a user's project.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "show-attend-tell";
let cached: string | null = null;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: unknown }).name === PACKAGE_NAME) return (cached = dir);
      } catch {
        // an unreadable package.json on the way up is not ours: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`${PACKAGE_NAME}: cannot find the package's own package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export interface PackageManifest {
  name: string;
  version: string;
  peerDependencies?: Record<string, string>;
}

let manifest: PackageManifest | null = null;

/** This package's own package.json (its version for `sat --version`, its declared ranges). */
export function packageManifest(): PackageManifest {
  return (manifest ??= JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as PackageManifest);
}
