// Lints the browser client's own modules (synctv/web/app), never the vendored libraries; from
// the repository's root (scripts/dev.sh check):
//   tests/support/web_node/node_modules/.bin/eslint -c tests/support/web_node/eslint.config.js synctv/web/app
// The recommended set, plus a few rules that catch real bugs or the shapes they hide in;
// layout is left alone. Unused locals and parameters are tsc's too (tsconfig.json); the two
// agree on a leading "_".
import js from "@eslint/js";
import globals from "globals";
import { fileURLToPath } from "node:url";

// The patterns below are paths from the repository's root.
const basePath = fileURLToPath(new URL("../../..", import.meta.url));

export default [
  { basePath, ignores: ["synctv/web/vendor/**"] },
  {
    basePath,
    files: ["synctv/web/app/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      ...js.configs.recommended.rules,
      // An unused variable is usually a typo or a value computed and then forgotten.
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_" }],
      // == only against null (null or undefined); anywhere else it coerces.
      eqeqeq: ["error", "smart"],
      // A top-level declaration in a classic script is a window property (inert in modules,
      // kept for any file loaded as a script).
      "no-implicit-globals": "error",
      // A binding never reassigned is const, so a reassignment that is one is seen. A let
      // declared above the closures that read it and assigned once below them stays a let.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // var is function-scoped and hoisted: a closure in a loop sees its last value.
      "no-var": "error",
    },
  },
];
