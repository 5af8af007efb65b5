// Runtime settings: one typed form per key, generated from what the server says of each (its
// default and its rule, the registry's own words: "an integer from 0 to 10000", "true or
// false", 'one of "a", "b"' ...). Booleans are checkboxes, numbers carry their range, choices
// are selects, lists and objects are JSON in a text area; whatever the browser lets through,
// the server validates, and its refusal (the key and the rule) is shown under the field.
// Secret fields are never sent to the browser: a value without them keeps the stored ones.
import { call } from "../api.js";
import { html, useEffect, useMemo, useState } from "../lib.js";
import { OutcomeLine, useOutcome, when } from "./common.js";

/**
 * @typedef {{key: string, value: any, default: any, is_set: boolean, public: boolean,
 *   has_secrets: boolean, rule: string, description: string, version: number,
 *   updated_at: string | null, updated_by: string}} SettingInfo
 * @typedef {{type: "boolean"} | {type: "integer" | "number", min: number, max: number}
 *   | {type: "string", min: number, max: number} | {type: "choice", options: string[]}
 *   | {type: "json"}} Kind
 */

/** The form a setting takes, from its rule (and its default when the rule says nothing known). @param {SettingInfo} setting @returns {Kind} */
export function kindOf(setting) {
  const rule = setting.rule;
  if (rule === "true or false") return { type: "boolean" };
  let m = rule.match(/^an integer from (-?\d+) to (-?\d+)/);
  if (m) return { type: "integer", min: Number(m[1]), max: Number(m[2]) };
  m = rule.match(/^a number from (-?[\d.e+]+) to (-?[\d.e+]+)/);
  if (m) return { type: "number", min: Number(m[1]), max: Number(m[2]) };
  m = rule.match(/^a string of (\d+) to (\d+) characters/);
  if (m) return { type: "string", min: Number(m[1]), max: Number(m[2]) };
  if (rule.startsWith("one of ")) {
    const options = [...rule.matchAll(/"([^"]*)"/g)].map((x) => x[1]);
    if (options.length) return { type: "choice", options };
  }
  const d = setting.default;
  if (typeof d === "boolean") return { type: "boolean" };
  if (typeof d === "string") return { type: "string", min: 0, max: 100000 };
  return { type: "json" };
}

/** @param {any} value */
function shown(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function SettingsPanel() {
  const [settings, setSettings] = useState(/** @type {SettingInfo[] | null} */ (null));
  const [filter, setFilter] = useState("");
  const { outcome, run } = useOutcome();
  useEffect(() => {
    run(() => call("GET", "/api/admin/settings")).then((s) => s && setSettings(s));
  }, []);
  const groups = useMemo(() => {
    /** @type {Map<string, SettingInfo[]>} */
    const byGroup = new Map();
    const needle = filter.trim().toLowerCase();
    for (const s of settings ?? []) {
      if (needle && !`${s.key} ${s.description}`.toLowerCase().includes(needle)) continue;
      const group = s.key.split(".")[0];
      byGroup.set(group, [...(byGroup.get(group) ?? []), s]);
    }
    return [...byGroup.entries()];
  }, [settings, filter]);

  return html`<section class="card" aria-labelledby="settings-heading">
    <h2 id="settings-heading">Runtime settings</h2>
    <p class="meta">Applied at once on every node, without a restart. Every change is in the audit log.</p>
    <div class="field">
      <label for="settings-filter">Filter settings</label>
      <input id="settings-filter" type="search" value=${filter}
        onInput=${(/** @type {InputEvent} */ e) => setFilter(/** @type {HTMLInputElement} */ (e.currentTarget).value)} />
    </div>
    <${OutcomeLine} outcome=${outcome} />
    ${groups.map(([group, items]) => html`<fieldset key=${group} class="setting-group">
      <legend>${group}</legend>
      ${items.map((s) => html`<${SettingForm} key=${s.key} initial=${s} />`)}
    </fieldset>`)}
  </section>`;
}

/** @param {{initial: SettingInfo}} props */
function SettingForm({ initial }) {
  const [setting, setSetting] = useState(initial);
  const [text, setText] = useState(() => draftOf(initial));
  const [checked, setChecked] = useState(initial.value === true);
  const { outcome, busy, run } = useOutcome();
  const kind = kindOf(setting);
  const id = `setting-${setting.key.replace(".", "-")}`;
  const hint = `${id}-hint`;

  /** @param {SettingInfo} s */
  function draftOf(s) {
    return kindOf(s).type === "json" ? JSON.stringify(s.value, null, 2) : shown(s.value);
  }

  /** @param {SettingInfo} fresh */
  function adopt(fresh) {
    setSetting(fresh);
    setText(draftOf(fresh));
    setChecked(fresh.value === true);
  }

  const path = `/api/admin/settings/${encodeURIComponent(setting.key)}`;

  /** @param {SubmitEvent} event */
  async function save(event) {
    event.preventDefault();
    /** @type {any} */
    let value;
    if (kind.type === "boolean") value = checked;
    else if (kind.type === "integer" || kind.type === "number") value = text.trim() === "" ? text : Number(text);
    else if (kind.type === "json") {
      try {
        value = JSON.parse(text);
      } catch {
        // Sent as typed: the server's refusal names the key and its rule.
        value = text;
      }
    } else value = text;
    const change = await run(() => call("PUT", path, { value }));
    if (!change) return;
    const fresh = await run(() => call("GET", path), `Saved: ${shown(change.old)} → ${shown(change.new)}`);
    if (fresh) adopt(fresh);
  }

  async function reset() {
    if (!(await run(() => call("DELETE", path)))) return;
    const fresh = await run(() => call("GET", path), "Back to its default.");
    if (fresh) adopt(fresh);
  }

  /** @param {Event} e */
  const typed = (e) => setText(/** @type {HTMLInputElement} */ (e.currentTarget).value);
  let input;
  if (kind.type === "boolean") {
    input = html`<input id=${id} type="checkbox" checked=${checked} aria-describedby=${hint}
      onChange=${(/** @type {Event} */ e) => setChecked(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />`;
  } else if (kind.type === "integer" || kind.type === "number") {
    input = html`<input id=${id} type="number" inputmode=${kind.type === "integer" ? "numeric" : "decimal"}
      min=${kind.min} max=${kind.max} step=${kind.type === "integer" ? 1 : "any"} required
      value=${text} onInput=${typed} aria-describedby=${hint} />`;
  } else if (kind.type === "choice") {
    input = html`<select id=${id} aria-describedby=${hint} onChange=${typed}>
      ${kind.options.map((o) => html`<option value=${o} selected=${o === text}>${o}</option>`)}
    </select>`;
  } else if (kind.type === "string") {
    input = html`<input id=${id} minlength=${kind.min} maxlength=${kind.max} value=${text}
      onInput=${typed} aria-describedby=${hint} />`;
  } else {
    input = html`<textarea id=${id} rows=${Math.min(12, Math.max(3, text.split("\n").length))} spellcheck="false"
      value=${text} onInput=${typed} aria-describedby=${hint}></textarea>`;
  }
  const buttons = html`<button type="submit" class="small" disabled=${busy}>Save</button>
    ${setting.is_set && html`<button type="button" class="small secondary" disabled=${busy} onClick=${reset}>Reset to default</button>`}`;
  return html`<form class=${`setting ${kind.type}`} onSubmit=${save} data-key=${setting.key}>
    ${kind.type === "boolean"
      ? html`<div class="setting-row">${input}<label for=${id}><code>${setting.key}</code></label>${buttons}</div>`
      : html`<label for=${id}><code>${setting.key}</code></label>
        <div class="setting-row">${input}${buttons}</div>`}
    <p id=${hint} class="meta">${setting.description} Must be ${setting.rule}; default ${shown(setting.default)}.
      ${setting.has_secrets && " Secret fields are never shown here: an item without them keeps its stored ones; type one to replace it."}
      ${setting.is_set ? ` Set by ${setting.updated_by || "?"} ${when(setting.updated_at)}.` : " Not set: the default applies."}
    </p>
    <${OutcomeLine} outcome=${outcome} />
  </form>`;
}
