// Labelled form fields (every input has a visible label: keyboard and screen-reader use).
import { html } from "../lib.js";

/** @param {{label: string, name: string, type?: string, [attribute: string]: any}} props */
export function Field({ label, name, type = "text", ...rest }) {
  const id = `field-${name}`;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} name=${name} type=${type} ...${rest} />
  </div>`;
}

/** @param {{confirm?: boolean, autocomplete: string}} props */
export function PasswordFields({ confirm = false, autocomplete }) {
  return html`
    <${Field} label="Password" name="password" type="password" autocomplete=${autocomplete} required minlength="8" />
    ${confirm && html`<${Field} label="Password again" name="confirm" type="password" autocomplete=${autocomplete} required minlength="8" />`}`;
}
