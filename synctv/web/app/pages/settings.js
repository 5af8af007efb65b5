// Room settings (manage_room_settings): GET, PATCH (only what changed) and reset
// /api/rooms/{room}/settings. Every field labelled; refusals shown with their code.
import { call, explain } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { navigate } from "../router.js";
import { Field } from "./forms.js";
import { RoomToolPage } from "./roomtools.js";

/**
 * @typedef {Record<string, any>} Settings
 * @typedef {import("./room.js").Access} Access
 */

// [key, label, hint]: the switches of the settings document (camelCase, as the API names them).
const SWITCHES = [
  ["chatEnabled", "Chat", "Members may send chat messages and danmaku."],
  ["voiceChatEnabled", "Voice chat", "Members may talk in the room."],
  ["waitForEveryone", "Wait for everyone", "Playback pauses while someone is still buffering."],
  ["allowGuestJoin", "Guests", "People without an account may watch (public rooms without a password)."],
  ["allowAutoJoin", "Open to join", "People may join (or ask to join) by themselves; off: only a manager adds members."],
  ["requireApproval", "Approve join requests", "New members wait until someone with the permission lets them in."],
  ["allowAnonymousLive", "Open live streams", "Anyone with a stream's link may watch it (public rooms without a password)."],
];
const MODES = [["sequential", "In order"], ["repeat_one", "Repeat one"], ["repeat_all", "Repeat all"], ["shuffle", "Shuffle"]];

/** @param {{roomId: string}} props */
export function RoomSettingsPage({ roomId }) {
  return html`<${RoomToolPage} roomId=${roomId} title="Room settings" permission="manage_room_settings"
    render=${(/** @type {Access} */ access) => html`<${RoomDetails} access=${access} /><${SettingsForm} roomId=${roomId} />`} />`;
}

/** Name, description, public or private (PATCH /api/rooms/{room}); deleting it (its creator). @param {{access: Access}} props */
function RoomDetails({ access }) {
  const [room, setRoom] = useState(access.room); // as saved: the fields show it after a save
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");
  const [deleting, setDeleting] = useState(false);
  /** @param {SubmitEvent} event */
  const save = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    try {
      const saved = await call("PATCH", `/api/rooms/${room.id}`, {
        name: String(form.get("detailName")).trim(),
        description: String(form.get("detailDescription") ?? "").trim(),
        isPublic: form.get("detailPublic") === "on",
      }, { roomId: room.id });
      setRoom(saved.room);
      setStatus("Saved.");
      setError("");
    } catch (e) {
      setError(explain(e));
    }
  };
  const remove = async () => {
    try {
      await call("DELETE", `/api/rooms/${room.id}`, undefined, { roomId: room.id });
      navigate("/");
    } catch (e) {
      setError(explain(e));
    }
  };
  return html`<form class="card settings" onSubmit=${save} aria-label="About the room">
    <fieldset>
      <legend>About the room</legend>
      <${Field} label="Name" name="detailName" required maxlength="100" value=${room.name} />
      <${Field} label="Description" name="detailDescription" maxlength="500" value=${room.description} />
      <div class="field check"><input id="detail-public" name="detailPublic" type="checkbox" checked=${room.isPublic} />
        <label for="detail-public">Public (listed in discovery)</label></div>
    </fieldset>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="actions">
      <button type="submit">Save room details</button>
      <span role="status" class="meta">${status}</span>
      ${access.myPermissions.includes("delete_room") && (deleting
        ? html`<span class="confirm-inline">Delete the room for everyone?
            <button type="button" class="danger" onClick=${remove}>Delete room</button>
            <button type="button" class="secondary" onClick=${() => setDeleting(false)}>Cancel</button></span>`
        : html`<button type="button" class="secondary push" onClick=${() => setDeleting(true)}>Delete this room…</button>`)}
    </div>
  </form>`;
}

/** @param {{roomId: string}} props */
function SettingsForm({ roomId }) {
  const [saved, setSaved] = useState(/** @type {Settings | null} */ (null));
  const [draft, setDraft] = useState(/** @type {Settings | null} */ (null));
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");
  const path = `/api/rooms/${roomId}/settings`;
  /** @param {Settings} settings */
  const show = (settings) => {
    setSaved(settings);
    setDraft(settings);
  };
  useEffect(() => {
    call("GET", path, undefined, { roomId }).then(show, (e) => setError(explain(e)));
  }, [roomId]);
  if (!draft || !saved) return error ? html`<p class="error" role="alert">${error}</p>` : html`<p>Loading…</p>`;

  /** @param {string} key @param {any} value */
  const set = (key, value) => {
    setDraft({ ...draft, [key]: value });
    setStatus("");
  };
  /** @param {string} key @param {any} value */
  const setAutoPlay = (key, value) => set("autoPlay", { ...draft.autoPlay, [key]: value });
  /** The keys that differ from what is saved (autoPlay only the fields that changed). */
  const changes = () => {
    /** @type {Settings} */
    const patch = {};
    for (const [key, value] of Object.entries(draft)) {
      if (key === "permissions") continue;
      if (key === "autoPlay") {
        const changed = Object.entries(value).filter(([k, v]) => saved.autoPlay[k] !== v);
        if (changed.length) patch.autoPlay = Object.fromEntries(changed);
      } else if (saved[key] !== value) patch[key] = value;
    }
    return patch;
  };
  /** @param {SubmitEvent} event */
  const save = async (event) => {
    event.preventDefault();
    const patch = changes();
    if (!Object.keys(patch).length) return setStatus("Nothing changed.");
    try {
      show(await call("PATCH", path, patch, { roomId }));
      setStatus("Saved.");
      setError("");
    } catch (e) {
      setError(explain(e));
    }
  };
  const reset = async () => {
    try {
      show(await call("POST", `${path}/reset`, undefined, { roomId }));
      setStatus("Back to the defaults.");
      setError("");
    } catch (e) {
      setError(explain(e));
    }
  };
  const dirty = Object.keys(changes()).length > 0;
  return html`<form class="card settings" onSubmit=${save}>
    <fieldset>
      <legend>Playback</legend>
      <div class="field check"><input id="set-autoplay" type="checkbox" checked=${draft.autoPlay.enabled}
        onChange=${(/** @type {Event} */ e) => setAutoPlay("enabled", /** @type {HTMLInputElement} */ (e.target).checked)} />
        <label for="set-autoplay">Auto-play the next item</label></div>
      <div class="row">
        <div class="field"><label for="set-mode">Order</label>
          <select id="set-mode" value=${draft.autoPlay.mode} disabled=${!draft.autoPlay.enabled}
            onChange=${(/** @type {Event} */ e) => setAutoPlay("mode", /** @type {HTMLSelectElement} */ (e.target).value)}>
            ${MODES.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
          </select></div>
        <div class="field"><label for="set-delay">Delay before the next (s)</label>
          <input id="set-delay" type="number" min="0" max="3600" value=${draft.autoPlay.delay} disabled=${!draft.autoPlay.enabled}
            onInput=${(/** @type {Event} */ e) => setAutoPlay("delay", Number(/** @type {HTMLInputElement} */ (e.target).value))} /></div>
      </div>
    </fieldset>
    <fieldset>
      <legend>Room</legend>
      ${SWITCHES.map(([key, label, hint]) => html`<div class="field check" key=${key}>
        <input id=${`set-${key}`} type="checkbox" checked=${Boolean(draft[key])} aria-describedby=${`hint-${key}`}
          onChange=${(/** @type {Event} */ e) => set(key, /** @type {HTMLInputElement} */ (e.target).checked)} />
        <label for=${`set-${key}`}>${label}</label>
        <span class="aside" id=${`hint-${key}`}>${hint}</span>
      </div>`)}
      <div class="field"><label for="set-maxMembers">Maximum members</label>
        <input id="set-maxMembers" type="number" min="1" value=${draft.maxMembers}
          onInput=${(/** @type {Event} */ e) => set("maxMembers", Number(/** @type {HTMLInputElement} */ (e.target).value))} /></div>
    </fieldset>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="actions">
      <button type="submit" disabled=${!dirty}>Save settings</button>
      <button type="button" class="secondary" onClick=${reset}>Reset to defaults</button>
      <span role="status" class="meta">${status}</span>
    </div>
  </form>`;
}
