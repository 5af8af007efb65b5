// Client-side routes: the server answers every client path with index.html, the page picks
// what to show from location.pathname; links navigate with the History API.
import { html, useEffect, useState } from "./lib.js";

/** @type {Set<() => void>} */
const listeners = new Set();

/** @param {string} path */
export function navigate(path) {
  if (path !== location.pathname + location.search) history.pushState(null, "", path);
  for (const listener of listeners) listener();
}

window.addEventListener("popstate", () => {
  for (const listener of listeners) listener();
});

/** The current path, re-rendering on navigation. */
export function useLocation() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** A link that navigates without reloading. @param {{href: string, children?: any, class?: string}} props */
export function Link({ href, children, ...rest }) {
  /** @param {MouseEvent} event */
  const click = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}
