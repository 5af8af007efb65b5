// The room's "Browse" panel (members with browse_library): pick a provider instance, walk its
// folders, add a file to the playlist (the playlist's own add, with a provider source). Loaded
// when first opened (not part of the first load).
import { call, explain } from "./api.js";
import { html, useEffect, useRef, useState } from "./lib.js";

/**
 * @typedef {{id: string, name: string, kind: string, browsable: boolean}} LibraryInstance
 * @typedef {{name: string, path: string, isDir: boolean, size: number | null}} Entry
 */

/** A size for people. @param {number | null} bytes */
function size(bytes) {
  if (bytes === null || bytes <= 0) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 && unit ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * @param {{roomId: string, playlistId?: string, added: () => void, close: () => void}} props
 */
export function Library({ roomId, playlistId, added, close }) {
  const [instances, setInstances] = useState(/** @type {LibraryInstance[] | null} */ (null));
  const [chosen, setChosen] = useState("");
  // The folders opened, top first: "Up" goes back one (an Emby folder is an id, not a path).
  const [trail, setTrail] = useState(/** @type {Entry[]} */ ([]));
  const path = trail.length ? trail[trail.length - 1].path : "/";
  const [entries, setEntries] = useState(/** @type {Entry[] | null} */ (null));
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const picker = useRef(/** @type {HTMLSelectElement | null} */ (null));
  const base = `/api/rooms/${encodeURIComponent(roomId)}/providers`;

  useEffect(() => {
    call("GET", base, undefined, { roomId }).then((found) => {
      const browsable = found.instances.filter((/** @type {LibraryInstance} */ i) => i.browsable);
      setInstances(browsable);
      if (browsable.length === 1) setChosen(browsable[0].id);
      requestAnimationFrame(() => picker.current?.focus());
    }, (e) => setError(explain(e)));
  }, [roomId]);

  useEffect(() => {
    if (!chosen) return;
    setBusy(true);
    setError("");
    call("GET", `${base}/${encodeURIComponent(chosen)}/browse?path=${encodeURIComponent(path)}`, undefined, { roomId })
      .then((found) => setEntries(found.entries), (e) => {
        setEntries(null);
        setError(explain(e));
      })
      .finally(() => setBusy(false));
  }, [chosen, path]);

  /** @param {Entry} entry */
  async function add(entry) {
    setError("");
    try {
      const source = { kind: "provider", instance: chosen, path: entry.path };
      await call("POST", `/api/rooms/${encodeURIComponent(roomId)}/media`,
        { playlistId, items: [{ name: entry.name, source }] }, { roomId });
      setStatus(`Added ${entry.name} to the playlist.`);
      added();
    } catch (e) {
      setError(explain(e));
    }
  }

  const instance = instances?.find((i) => i.id === chosen);
  return html`<div class="library" role="region" aria-label="Browse a library">
    <div class="library-head">
      <div class="field">
        <label for="library-instance">Library</label>
        <select id="library-instance" ref=${picker} value=${chosen} disabled=${!instances?.length}
          onChange=${(/** @type {Event} */ e) => {
            setChosen(/** @type {HTMLSelectElement} */ (e.currentTarget).value);
            setTrail([]);
            setEntries(null);
            setStatus("");
          }}>
          <option value="">${instances === null ? "Loading…" : instances.length ? "Choose a library" : "No library to browse"}</option>
          ${(instances ?? []).map((i) => html`<option value=${i.id} key=${i.id}>${i.name} (${i.kind})</option>`)}
        </select>
      </div>
      <button type="button" class="small ghost" onClick=${close}>Close</button>
    </div>
    ${instance && html`<nav class="library-path" aria-label="Folder">
      <button type="button" class="small ghost" disabled=${trail.length === 0 || busy}
        onClick=${() => setTrail(trail.slice(0, -1))} aria-label="Up one folder">↑ Up</button>
      <code>${instance.name}:/${trail.map((f) => f.name).join("/")}</code>
    </nav>`}
    ${instance && entries && (entries.length === 0
      ? html`<p class="aside">This folder is empty.</p>`
      : html`<ul class="library-entries" aria-label=${`Contents of ${trail.length ? trail[trail.length - 1].name : instance.name}`} aria-busy=${busy}>
        ${entries.map((e) => html`<li key=${e.path} class=${e.isDir ? "folder-entry" : "file-entry"}>
          ${e.isDir
            ? html`<button type="button" class="link-button name" onClick=${() => setTrail([...trail, e])}
                aria-label=${`Open folder ${e.name}`}>${e.name}/</button>`
            : html`<span class="name" title=${e.name}>${e.name}</span>
              <span class="meta">${size(e.size)}</span>
              <button type="button" class="small" onClick=${() => add(e)} aria-label=${`Add ${e.name}`}>Add</button>`}
        </li>`)}
      </ul>`)}
    <p class="aside" role="status" aria-live="polite">${status}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}
