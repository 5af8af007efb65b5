// The UI library, from the vendored files: Preact with htm tagged templates (no JSX compiler,
// no build step). Every page imports these names from here, never the vendor paths.
import { h, render } from "../vendor/preact/preact.mjs";
import htm from "../vendor/htm/htm.mjs";

export { h, render };
export {
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "../vendor/preact/hooks.mjs";

/** `html\`<p>${x}</p>\`` builds Preact elements. */
export const html = htm.bind(h);
