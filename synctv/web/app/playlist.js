// The room's playlist: its folders as a tree, add a URL (with headers and subtitles) or a
// provider instance's path, browse a provider instance and add its files (browse_library: the
// panel of library.js, loaded when opened), reorder by dragging or with the move buttons
// (keyboard), play next, play now, remove, clear. Kept current by the channel's media_* and
// playlist_* events.
import { call, currentSession, explain, guestPass } from "./api.js";
import { html, useEffect, useRef, useState } from "./lib.js";
import { Field } from "./pages/forms.js";

const EVENTS = new Set(["media_added", "media_moved", "media_removed", "playlist_cleared", "playlist_created"]);
const PROXY_MODES = [
  ["auto", "Automatic (proxy when needed)"],
  ["prefer", "Through this server, direct as fallback"],
  ["only", "Through this server only"],
  ["direct_prefer", "Direct, this server as fallback"],
  ["direct_only", "Direct only"],
];

/**
 * @typedef {import("./player.js").Media} Media
 * @typedef {{id: string, parentId: string | null, name: string, position: string}} FolderRow
 * @typedef {{id: string, name: string, media: Media[], folders: Folder[]}} Folder
 * @typedef {{name: string, value: string}} Pair
 */

/** Every media of a tree, depth first (the order the room plays in). @param {Folder} folder @returns {Media[]} */
export function flatten(folder) {
  return [...folder.media, ...folder.folders.flatMap(flatten)];
}

/** A folder and its sub-folders, loaded one level at a time. @param {string} roomId @param {string | null} id @param {string} name @returns {Promise<Folder>} */
async function loadFolder(roomId, id, name) {
  const query = id ? `?playlistId=${encodeURIComponent(id)}` : "";
  const found = await call("GET", `/api/rooms/${roomId}/media${query}`, undefined, { roomId });
  const folders = await Promise.all(found.folders.map((/** @type {FolderRow} */ f) => loadFolder(roomId, f.id, f.name)));
  return { id: found.playlistId, name, media: found.media, folders };
}

/** The folders of a tree as (id, label) for a "add to" choice. @param {Folder} folder @param {string} prefix @returns {[string, string][]} */
function folderChoices(folder, prefix = "") {
  return folder.folders.flatMap((f) => [[f.id, `${prefix}${f.name}`], ...folderChoices(f, `${prefix}${f.name} / `)]);
}

/** The caller's id in the room (a user, or a guest). @param {string} roomId */
function myId(roomId) {
  return currentSession()?.user.id ?? guestPass(roomId)?.guestId ?? "";
}

/**
 * @param {{roomId: string, channel: import("./channel.js").RoomChannel | null, current: string,
 *   permissions: string[], play: (mediaId: string) => void, onMedia: (media: Media[]) => void}} props
 */
export function Playlist({ roomId, channel, current, permissions, play, onMedia }) {
  const [tree, setTree] = useState(/** @type {Folder | null} */ (null));
  const [error, setError] = useState("");
  const [browsing, setBrowsing] = useState(false);
  const dragged = useRef(/** @type {string | null} */ (null));
  const refocus = useRef(/** @type {string | null} */ (null));
  const list = useRef(/** @type {HTMLElement | null} */ (null));
  const can = (/** @type {string} */ p) => permissions.includes(p);

  const reload = () => loadFolder(roomId, null, "").then((t) => {
    setTree(t);
    onMedia(flatten(t));
  }, (e) => setError(explain(e)));

  useEffect(() => {
    reload();
    if (!channel) return;
    return channel.listen({
      message: (message) => {
        if (message.welcome || (message.event && EVENTS.has(message.event.type))) reload();
      },
    });
  }, [roomId, channel]);

  // A moved item keeps the focus on the button that moved it (keyboard use).
  useEffect(() => {
    const wanted = refocus.current;
    if (!wanted || !list.current) return;
    // At an end its own button is disabled: the other direction's then.
    const other = wanted.startsWith("up-") ? `down-${wanted.slice(3)}` : `up-${wanted.slice(5)}`;
    const found = [wanted, other].map((key) => list.current?.querySelector(`[data-focus="${key}"]`));
    const button = /** @type {HTMLButtonElement | undefined} */ (found.find((b) => b && !(/** @type {HTMLButtonElement} */ (b)).disabled));
    if (button) {
      button.focus();
      refocus.current = null;
    }
  }, [tree]);

  /** @param {() => Promise<unknown>} action */
  const attempt = async (action) => {
    try {
      await action();
      setError("");
      await reload();
    } catch (e) {
      setError(explain(e));
    }
  };
  /** @param {string} id @param {{before?: string, after?: string, playlistId?: string}} where */
  const move = (id, where) => attempt(() => call("POST", `/api/rooms/${roomId}/media/${id}/move`, where, { roomId }));
  const remove = (/** @type {Media} */ m) => attempt(() => call("DELETE", `/api/rooms/${roomId}/media/${m.id}`, undefined, { roomId }));
  const clear = () => {
    if (window.confirm("Remove every item and folder of the playlist?")) {
      attempt(() => call("DELETE", `/api/rooms/${roomId}/media`, undefined, { roomId }));
    }
  };
  const folder = async () => {
    const name = window.prompt("Folder name");
    if (name?.trim()) await attempt(() => call("POST", `/api/rooms/${roomId}/playlists`, { name: name.trim() }, { roomId }));
  };

  const me = myId(roomId);
  const reorder = can("reorder_media");
  /** @param {Media[]} siblings @param {Media} m @param {number} i */
  const item = (siblings, m, i) => {
    const mayRemove = can("delete_media") || (can("manage_own_media") && m.addedBy === me);
    /** @param {DragEvent} e */
    const drop = (e) => {
      e.preventDefault();
      const id = dragged.current;
      dragged.current = null;
      if (!id || id === m.id) return;
      const box = /** @type {HTMLElement} */ (e.currentTarget).getBoundingClientRect();
      move(id, e.clientY < box.top + box.height / 2 ? { before: m.id } : { after: m.id });
    };
    /** @param {string} key @param {{before?: string, after?: string}} where */
    const step = (key, where) => {
      refocus.current = `${key}-${m.id}`;
      move(m.id, where);
    };
    return html`<li key=${m.id} class=${m.id === current ? "current" : ""} data-media=${m.id}
      draggable=${reorder ? "true" : "false"}
      onDragStart=${(/** @type {DragEvent} */ e) => {
        dragged.current = m.id;
        e.dataTransfer?.setData("text/plain", m.name);
      }}
      onDragOver=${(/** @type {DragEvent} */ e) => reorder && e.preventDefault()}
      onDrop=${drop}>
      <span class="name" title=${m.name}>${m.name}</span>
      <span class="item-actions">
        ${can("navigate_playback") && html`<button type="button" class="small" onClick=${() => play(m.id)}
          aria-label=${`Play ${m.name}`}>${m.id === current ? "Playing" : "Play"}</button>`}
        ${reorder && current && m.id !== current && html`<button type="button" class="small ghost"
          onClick=${() => move(m.id, { after: current })} aria-label=${`${m.name}: play next`}>Next</button>`}
        ${reorder && html`<button type="button" class="small ghost" data-focus=${`up-${m.id}`} disabled=${i === 0}
          onClick=${() => step("up", { before: siblings[i - 1].id })} aria-label=${`Move ${m.name} up`}>↑</button>
          <button type="button" class="small ghost" data-focus=${`down-${m.id}`} disabled=${i === siblings.length - 1}
          onClick=${() => step("down", { after: siblings[i + 1].id })} aria-label=${`Move ${m.name} down`}>↓</button>`}
        ${mayRemove && html`<button type="button" class="small ghost danger" onClick=${() => remove(m)}
          aria-label=${`Remove ${m.name}`}>✕</button>`}
      </span>
    </li>`;
  };
  /** @param {Folder} f @param {boolean} root @returns {any} */
  const branch = (f, root) => {
    const body = html`${f.media.length > 0 && html`<ol>${f.media.map((m, i) => item(f.media, m, i))}</ol>`}
      ${f.folders.map((sub) => branch(sub, false))}`;
    if (root) return body;
    return html`<details class="folder" open key=${f.id}
      onDragOver=${(/** @type {DragEvent} */ e) => reorder && e.preventDefault()}
      onDrop=${(/** @type {DragEvent} */ e) => {
        if (e.defaultPrevented && e.target !== e.currentTarget) return;
        e.preventDefault();
        const id = dragged.current;
        dragged.current = null;
        if (id) move(id, { playlistId: f.id });
      }}>
      <summary>${f.name} <span class="meta">(${flatten(f).length})</span></summary>
      ${f.media.length || f.folders.length ? body : html`<p class="aside">Empty folder.</p>`}
    </details>`;
  };

  const empty = !tree || (tree.media.length === 0 && tree.folders.length === 0);
  return html`<section class="card playlist" aria-label="Playlist" ref=${list}>
    <div class="playlist-head">
      <h2>Playlist</h2>
      ${can("browse_library") && can("manage_own_media") && html`<button type="button" class="small ghost"
        aria-expanded=${browsing} onClick=${() => setBrowsing(!browsing)}>Browse</button>`}
      ${reorder && html`<button type="button" class="small ghost" onClick=${folder}>New folder</button>`}
      ${can("clear_media") && !empty && html`<button type="button" class="small ghost danger" onClick=${clear}>Clear</button>`}
    </div>
    ${browsing && html`<${LazyLibrary} roomId=${roomId} added=${reload} close=${() => setBrowsing(false)} />`}
    ${empty ? html`<p class="aside">The playlist is empty.</p>` : branch(/** @type {Folder} */ (tree), true)}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${can("manage_own_media") && html`<${AddMedia} roomId=${roomId} folders=${tree ? folderChoices(tree) : []}
      added=${reload} browse=${can("browse_library")} />`}
  </section>`;
}

/** The Browse panel, loaded when first opened. @param {{roomId: string, added: () => void, close: () => void}} props */
function LazyLibrary(props) {
  const [module, setModule] = useState(/** @type {typeof import("./library.js") | null} */ (null));
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import("./library.js").then(setModule, () => setFailed(true));
  }, []);
  if (module) return html`<${module.Library} ...${props} />`;
  return html`<p class="aside" role="status">${failed ? "The library did not load: reload the page." : "Loading…"}</p>`;
}

/** Name/value rows a person can add and remove. @param {{legend: string, first: string, second: string, rows: Pair[], set: (rows: Pair[]) => void, id: string}} props */
function Rows({ legend, first, second, rows, set, id }) {
  /** @param {number} i @param {Partial<Pair>} change */
  const edit = (i, change) => set(rows.map((r, n) => (n === i ? { ...r, ...change } : r)));
  return html`<fieldset class=${`rows ${id}`}><legend>${legend}</legend>
    ${rows.map((r, i) => html`<div class="row" key=${i}>
      <label for=${`${id}-${i}-a`}>${first} ${i + 1}</label>
      <input id=${`${id}-${i}-a`} value=${r.name} placeholder=${first}
        onInput=${(/** @type {Event} */ e) => edit(i, { name: /** @type {HTMLInputElement} */ (e.target).value })} />
      <label for=${`${id}-${i}-b`}>${second} ${i + 1}</label>
      <input id=${`${id}-${i}-b`} value=${r.value} placeholder=${second}
        onInput=${(/** @type {Event} */ e) => edit(i, { value: /** @type {HTMLInputElement} */ (e.target).value })} />
      <button type="button" class="small ghost" aria-label=${`Remove ${first.toLowerCase()} ${i + 1}`}
        onClick=${() => set(rows.filter((_, n) => n !== i))}>✕</button>
    </div>`)}
    <button type="button" class="small ghost" onClick=${() => set([...rows, { name: "", value: "" }])}>Add ${first.toLowerCase()}</button>
  </fieldset>`;
}

/** The title a URL gets when none is given: its file name. @param {string} url */
function titleOf(url) {
  try {
    return decodeURIComponent(url.split(/[?#]/)[0].split("/").pop() || url);
  } catch {
    return url;
  }
}

/** @param {{roomId: string, folders: [string, string][], added: () => void, browse: boolean}} props */
function AddMedia({ roomId, folders, added, browse }) {
  const [headers, setHeaders] = useState(/** @type {Pair[]} */ ([]));
  const [subtitles, setSubtitles] = useState(/** @type {Pair[]} */ ([]));
  const [error, setError] = useState("");
  const [from, setFrom] = useState("url");

  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const formElement = /** @type {HTMLFormElement} */ (event.target);
    const form = new FormData(formElement);
    const text = (/** @type {string} */ key) => String(form.get(key) ?? "").trim();
    /** @type {Record<string, any>} */
    let source;
    let name = text("mediaName");
    if (from === "provider") {
      source = { kind: "provider", instance: text("providerInstance"), path: text("providerPath") };
      name ||= titleOf(source.path);
    } else {
      const url = text("mediaUrl");
      source = { kind: "url", url };
      const named = headers.filter((h) => h.name.trim());
      if (named.length) source.headers = Object.fromEntries(named.map((h) => [h.name.trim(), h.value]));
      const subs = subtitles.filter((s) => s.value.trim());
      if (subs.length) {
        source.subtitles = subs.map((s, n) => {
          const path = s.value.trim().split(/[?#]/)[0].toLowerCase();
          const format = path.endsWith(".srt") ? "srt" : path.endsWith(".vtt") ? "vtt" : path.endsWith(".ass") ? "ass" : undefined;
          return { name: s.name.trim() || `Subtitles ${n + 1}`, url: s.value.trim(), ...(format ? { format } : {}) };
        });
      }
      name ||= titleOf(url);
    }
    const playlistId = text("addTo") || undefined;
    try {
      await call("POST", `/api/rooms/${roomId}/media`,
        { playlistId, items: [{ name, source, proxyMode: text("proxyMode") || "auto" }] }, { roomId });
      formElement.reset();
      formElement.querySelector("details.more")?.removeAttribute("open");
      setHeaders([]);
      setSubtitles([]);
      setError("");
      added();
    } catch (e) {
      setError(explain(e));
    }
  };
  return html`<form class="add-media" onSubmit=${submit}>
    <div class="tabs" role="radiogroup" aria-label="Add from">
      <label class="check"><input type="radio" name="from" value="url" checked=${from === "url"} onChange=${() => setFrom("url")} /> A URL</label>
      <label class="check"><input type="radio" name="from" value="provider" checked=${from === "provider"} onChange=${() => setFrom("provider")} /> A provider</label>
    </div>
    ${from === "url"
      ? html`<${Field} label="Media URL" name="mediaUrl" type="url" required placeholder="https://…/video.mp4" />`
      : html`<${Field} label="Provider instance" name="providerInstance" required placeholder="my-alist" />
        <${Field} label="Path in the provider" name="providerPath" required placeholder="/films/film.mp4" />
        <p class="aside">${browse ? "Or pick a file with Browse, at the top of the playlist." : "Paste the path of a file in the provider."}</p>`}
    <${Field} label="Title (optional)" name="mediaName" />
    ${folders.length > 0 && html`<div class="field"><label for="field-addTo">Add to</label>
      <select id="field-addTo" name="addTo"><option value="">Playlist (top)</option>
        ${folders.map(([id, label]) => html`<option value=${id}>${label}</option>`)}</select></div>`}
    <details class="more">
      <summary>Delivery${from === "url" ? ", headers and subtitles" : ""}</summary>
      <div class="field"><label for="field-proxyMode">Delivery</label>
        <select id="field-proxyMode" name="proxyMode">
          ${PROXY_MODES.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
        </select></div>
      ${from === "url" && html`
        <${Rows} legend="Request headers" first="Header" second="Value" rows=${headers} set=${setHeaders} id="header" />
        <${Rows} legend="Subtitles (WebVTT or SRT)" first="Subtitle" second="URL" rows=${subtitles} set=${setSubtitles} id="subtitle" />`}
    </details>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Add to playlist</button>
  </form>`;
}
