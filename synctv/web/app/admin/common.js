// Pieces the admin pages share: a result line (what worked, or the server's refusal in words),
// a labelled select, dates in the reader's locale.
import { explain } from "../api.js";
import { html, useState } from "../lib.js";

/** @typedef {{ok?: string, error?: string}} Outcome */

/**
 * An outcome and a runner: ``run(work, done)`` awaits ``work``; on success shows ``done`` (a
 * sentence, or one built from the result), on a refusal the server's message and code.
 */
export function useOutcome() {
  const [outcome, setOutcome] = useState(/** @type {Outcome} */ ({}));
  const [busy, setBusy] = useState(false);
  /**
   * @template T
   * @param {() => Promise<T>} work
   * @param {string | ((result: T) => string)} [done]
   * @returns {Promise<T | undefined>}
   */
  async function run(work, done) {
    setBusy(true);
    setOutcome({});
    try {
      const result = await work();
      if (done) setOutcome({ ok: typeof done === "function" ? done(result) : done });
      return result;
    } catch (error) {
      setOutcome({ error: explain(error) });
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { outcome, busy, run, setOutcome };
}

/** The outcome under a form, announced to screen readers. @param {{outcome: Outcome}} props */
export function OutcomeLine({ outcome }) {
  return html`<p class="outcome" role="status" aria-live="polite">
    ${outcome.error
      ? html`<span class="error">${outcome.error}</span>`
      : outcome.ok && html`<span class="ok-text">${outcome.ok}</span>`}
  </p>`;
}

/**
 * A labelled select read from its form; ``value`` is the option chosen first.
 * @param {{label: string, id: string, value: string, options: Array<[string, string]>,
 *   [attribute: string]: any}} props
 */
export function Select({ label, id, value, options, ...rest }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} ...${rest}>
      ${options.map(([v, text]) => html`<option value=${v} selected=${v === value}>${text}</option>`)}
    </select>
  </div>`;
}

/** A date and time for people. @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** The value of a form's named field. @param {HTMLFormElement} form @param {string} name */
export function formValue(form, name) {
  const element = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
  return element ? element.value : "";
}
