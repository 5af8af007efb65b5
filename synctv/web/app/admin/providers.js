// Provider instances (the media libraries rooms browse): list, add with a form for the kind
// chosen, edit, test (list the top folder: it signs in to the provider's server) and delete.
// Credentials are write-only: the server never returns them, so an edit leaves them empty and
// keeps the stored ones unless new ones are typed (or "clear" is ticked).
import { call } from "../api.js";
import { html, useEffect, useRef, useState } from "../lib.js";
import { OutcomeLine, Select, useOutcome, when } from "./common.js";

/**
 * @typedef {{name: string, description: string, configKeys: string[], credentialKeys: string[],
 *   defaultMode: string}} Kind
 * @typedef {{id: string, kind: string, name: string, config: Record<string, any>,
 *   lanService: boolean, hasCredentials: boolean, createdAt: string, updatedAt: string}} Instance
 * @typedef {{label: string, type?: "url" | "text" | "password" | "headers" | "hosts" | "mode",
 *   hint?: string, required?: boolean, wide?: boolean}} KeyForm
 */

/** How a form asks for each known key (an unknown one is a text field named after it). */
const CONFIG_FORMS = /** @type {Record<string, KeyForm>} */ ({
  base_url: { label: "Server URL", type: "url", required: true, hint: "e.g. http://nas.lan:5244", wide: true },
  username: { label: "User name" },
  user_id: { label: "User id (optional)" },
  device_id: { label: "Device id (optional)" },
  headers: { label: "Fixed headers", type: "headers", hint: "One \"Name: value\" a line (User-Agent, Referer …)" },
  mode: { label: "Delivery", type: "mode" },
  lan_hosts: { label: "LAN hosts", type: "hosts", hint: "One host, address or CIDR block a line" },
});
const SECRET_FORMS = /** @type {Record<string, KeyForm>} */ ({
  password: { label: "Password", type: "password" },
  path_password: { label: "Folder password (optional)", type: "password" },
  api_key: { label: "API key", type: "password" },
  headers: { label: "Secret headers", type: "headers", hint: "One \"Name: value\" a line (Authorization, Cookie …)" },
});

/** Config keys in the order of CONFIG_FORMS (the usual first), unknown ones after. @param {string[]} keys */
function ordered(keys) {
  const known = Object.keys(CONFIG_FORMS);
  const rank = (/** @type {string} */ key) => (known.includes(key) ? known.indexOf(key) : known.length);
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

/** @param {Record<string, string> | undefined} headers */
function headerLines(headers) {
  return Object.entries(headers ?? {}).map(([k, v]) => `${k}: ${v}`).join("\n");
}

/** @param {string} text @returns {Record<string, string>} */
function parseHeaders(text) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/**
 * One key's field. @param {{id: string, name: string, form: KeyForm, value: string,
 *   kind: Kind}} props
 */
function KeyField({ id, name, form, value, kind }) {
  const hint = form.hint && html`<span class="meta" id=${`${id}-hint`}>${form.hint}</span>`;
  const described = form.hint ? `${id}-hint` : undefined;
  if (form.type === "mode") {
    return html`<${Select} label=${form.label} id=${id} name=${name} value=${value}
      options=${[["", `Default (${kind.defaultMode})`], ["proxy", "Through this server"], ["direct", "Direct to the viewers"]]} />`;
  }
  if (form.type === "headers" || form.type === "hosts") {
    return html`<div class="field wide-field">
      <label for=${id}>${form.label}</label>
      <textarea id=${id} name=${name} rows="2" aria-describedby=${described}>${value}</textarea>${hint}
    </div>`;
  }
  return html`<div class=${form.wide ? "field wide-field" : "field"}>
    <label for=${id}>${form.label}</label>
    <input id=${id} name=${name} type=${form.type ?? "text"} value=${value} required=${form.required}
      autocomplete=${form.type === "password" ? "new-password" : "off"} aria-describedby=${described} />${hint}
  </div>`;
}

/** A key's form value as JSON. @param {KeyForm} form @param {string} text */
function parsed(form, text) {
  if (form.type === "headers") {
    const headers = parseHeaders(text);
    return Object.keys(headers).length ? headers : undefined;
  }
  if (form.type === "hosts") {
    const hosts = text.split(/[\n,]/).map((h) => h.trim()).filter(Boolean);
    return hosts.length ? hosts : undefined;
  }
  return text.trim() || undefined;
}

/**
 * Add (no ``instance``) or edit one instance.
 * @param {{kinds: Kind[], instance: Instance | null, done: (changed: Instance | null) => void}} props
 */
function InstanceForm({ kinds, instance, done }) {
  const [kindName, setKindName] = useState(instance?.kind ?? kinds[0]?.name ?? "");
  const { outcome, busy, run } = useOutcome();
  const heading = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  const kind = kinds.find((k) => k.name === kindName) ?? kinds[0];
  const prefix = instance ? "edit" : "new";
  useEffect(() => {
    if (instance) heading.current?.focus();
  }, [instance?.id]);
  if (!kind) return null;

  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const data = new FormData(form);
    const text = (/** @type {string} */ name) => String(data.get(name) ?? "");
    /** @type {Record<string, any>} */
    const config = {};
    for (const key of kind.configKeys) {
      const value = parsed(CONFIG_FORMS[key] ?? { label: key }, text(`config.${key}`));
      if (value !== undefined) config[key] = value;
    }
    /** @type {Record<string, any>} */
    const credentials = {};
    for (const key of kind.credentialKeys) {
      const value = parsed(SECRET_FORMS[key] ?? { label: key, type: "password" }, text(`secret.${key}`));
      if (value !== undefined) credentials[key] = value;
    }
    const lanService = data.get("lanService") === "on";
    const name = text("name").trim();
    /** @type {Instance | undefined} */
    let saved;
    if (instance) {
      /** @type {Record<string, any>} */
      const body = { name, config, lanService };
      if (data.get("clearCredentials") === "on") body.clearCredentials = true;
      else if (Object.keys(credentials).length) body.credentials = credentials;
      saved = await run(() => call("PATCH", `/api/admin/providers/${encodeURIComponent(instance.id)}`, body));
    } else {
      saved = await run(() => call("POST", "/api/admin/providers", { kind: kind.name, name, config, credentials, lanService }));
    }
    if (saved) {
      form.reset();
      done(saved);
    }
  }

  const config = instance?.config ?? {};
  /** @param {string} key */
  const configValue = (key) => {
    const value = config[key];
    if (key === "headers") return headerLines(value);
    if (Array.isArray(value)) return value.join("\n");
    return value === undefined ? "" : String(value);
  };
  const title = instance ? `Edit ${instance.name}` : "Add a provider instance";
  return html`<section class="card provider-form" aria-labelledby=${`${prefix}-heading`}>
    <h2 id=${`${prefix}-heading`} tabindex="-1" ref=${heading}>${title}</h2>
    <form onSubmit=${submit}>
      <div class="provider-fields">
        ${!instance && html`<${Select} label="Kind" id="new-kind" name="kind" value=${kind.name}
          options=${kinds.map((k) => [k.name, k.name])}
          onChange=${(/** @type {Event} */ e) => setKindName(/** @type {HTMLSelectElement} */ (e.currentTarget).value)} />`}
        <div class="field">
          <label for=${`${prefix}-name`}>Name</label>
          <input id=${`${prefix}-name`} name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]*"
            value=${instance?.name ?? ""} aria-describedby=${`${prefix}-name-hint`} />
          <span class="meta" id=${`${prefix}-name-hint`}>Letters, digits, "_", "." and "-"</span>
        </div>
        <p class="meta wide-field kind-about">${instance ? html`<strong>${kind.name}</strong>: ` : ""}${kind.description}</p>
      </div>
      <fieldset class="provider-fields" key=${`config-${kind.name}`}>
        <legend>Settings</legend>
        ${ordered(kind.configKeys).map((key) => html`<${KeyField} key=${key} id=${`${prefix}-config-${key}`} name=${`config.${key}`}
          form=${CONFIG_FORMS[key] ?? { label: key }} value=${configValue(key)} kind=${kind} />`)}
        <label class="check wide-field"><input type="checkbox" name="lanService" checked=${instance?.lanService ?? false} />
          ${" "}LAN service: its server is on this network (allows reaching its own host)</label>
      </fieldset>
      ${kind.credentialKeys.length > 0 && html`<fieldset class="provider-fields" key=${`secret-${kind.name}`}>
        <legend>Credentials (write-only: stored encrypted, never shown)</legend>
        ${instance?.hasCredentials && html`<p class="meta wide-field">Stored credentials are kept unless you type new ones.</p>`}
        ${kind.credentialKeys.map((key) => html`<${KeyField} key=${key} id=${`${prefix}-secret-${key}`} name=${`secret.${key}`}
          form=${SECRET_FORMS[key] ?? { label: key, type: "password" }} value="" kind=${kind} />`)}
        ${instance?.hasCredentials && html`<label class="check wide-field"><input type="checkbox" name="clearCredentials" /> Clear the stored credentials</label>`}
      </fieldset>`}
      <${OutcomeLine} outcome=${outcome} />
      <div class="inline-buttons">
        <button type="submit" disabled=${busy}>${instance ? "Save changes" : "Add instance"}</button>
        ${instance && html`<button type="button" class="secondary" onClick=${() => done(null)}>Cancel</button>`}
      </div>
    </form>
  </section>`;
}

export function ProvidersPanel() {
  const [state, setState] = useState(/** @type {{instances: Instance[], kinds: Kind[]} | null} */ (null));
  const [editing, setEditing] = useState(/** @type {string | null} */ (null));
  const [confirming, setConfirming] = useState(/** @type {string | null} */ (null));
  const { outcome, busy, run } = useOutcome();

  /** The list again; ``done`` (what just worked) is shown once it is in. @param {string} [done] */
  async function load(done) {
    const found = await run(() => call("GET", "/api/admin/providers"), done);
    if (found) setState(found);
  }

  useEffect(() => {
    load();
  }, []);

  /** @param {Instance} instance */
  async function test(instance) {
    await run(() => call("GET", `/api/admin/providers/${encodeURIComponent(instance.id)}/browse?path=/`),
      (/** @type {{entries: unknown[]}} */ r) => `${instance.name} answered: ${r.entries.length} item${r.entries.length === 1 ? "" : "s"} at the top.`);
  }

  /** @param {Instance} instance */
  async function remove(instance) {
    setConfirming(null);
    const done = await run(() => call("DELETE", `/api/admin/providers/${encodeURIComponent(instance.id)}`));
    if (done !== undefined) await load(`Deleted ${instance.name}.`);
  }

  /** @param {string} verb @returns {(saved: Instance | null) => void} */
  const finished = (verb) => (saved) => {
    setEditing(null);
    if (saved) load(`${verb} ${saved.name}.`);
  };

  const instances = state?.instances ?? [];
  const current = instances.find((i) => i.id === editing) ?? null;
  return html`<section class="card" aria-labelledby="providers-heading">
      <h2 id="providers-heading">Provider instances</h2>
      <p class="meta">The media libraries rooms browse (Alist, Emby) and fixed-header URL sources (direct).
        Changes are in the audit log (action <code>provider</code>).</p>
      <${OutcomeLine} outcome=${outcome} />
      ${state && (instances.length === 0
        ? html`<p class="meta">No provider instance yet.</p>`
        : html`<ul class="admin-list" aria-label="Provider instances">
          ${instances.map((i) => html`<li key=${i.id} data-provider=${i.name} class=${editing === i.id ? "selected" : ""}>
            <span class="name">${i.name}</span>
            <span class="badges">
              <span class="tag">${i.kind}</span>
              ${i.hasCredentials && html`<span class="tag ok">credentials set</span>`}
              ${i.lanService && html`<span class="tag warn">LAN</span>`}
            </span>
            <span class="meta hide-narrow">${when(i.updatedAt)}</span>
            <span class="inline-buttons">
              ${i.kind !== "direct" && html`<button type="button" class="small secondary" disabled=${busy}
                aria-label=${`Test ${i.name}`} onClick=${() => test(i)}>Test</button>`}
              <button type="button" class="small" aria-label=${`Edit ${i.name}`}
                onClick=${() => setEditing(editing === i.id ? null : i.id)}>Edit</button>
              ${confirming === i.id
                ? html`<button type="button" class="small danger" disabled=${busy} onClick=${() => remove(i)}>Delete ${i.name} for good</button>
                  <button type="button" class="small link-button" onClick=${() => setConfirming(null)}>Keep</button>`
                : html`<button type="button" class="small danger" aria-label=${`Delete ${i.name}`}
                  onClick=${() => setConfirming(i.id)}>Delete</button>`}
            </span>
          </li>`)}
        </ul>`)}
    </section>
    ${state && current && html`<${InstanceForm} key=${`edit-${current.id}`} kinds=${state.kinds} instance=${current} done=${finished("Saved")} />`}
    ${state && !current && html`<${InstanceForm} key="new" kinds=${state.kinds} instance=${null} done=${finished("Added")} />`}`;
}
