// Live streams. Over REST a stream belongs to a room: an administrator (every permission in
// every room) lists a room's streams, creates one (its OBS key shown once) and deletes one.
// Listing every stream of the server, kicking a publisher and rotating a key exist only on the
// management socket (the ``synctv admin live`` commands and their gRPC service): the panel says so.
import { call } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { OutcomeLine, formValue, useOutcome, when } from "./common.js";

/**
 * @typedef {{streamId: string, title: string, createdAt: string, rtmpServer: string,
 *   flvUrl: string, hlsUrl: string, live: boolean}} LiveStream
 * @typedef {{id: string, name: string}} RoomRef
 */

export function LivePanel() {
  const [rooms, setRooms] = useState(/** @type {RoomRef[]} */ ([]));
  const [roomId, setRoomId] = useState("");
  const [streams, setStreams] = useState(/** @type {LiveStream[] | null} */ (null));
  const [created, setCreated] = useState(/** @type {{rtmpServer: string, streamKey: string} | null} */ (null));
  const { outcome, busy, run } = useOutcome();

  useEffect(() => {
    // The rooms this browser can name: public ones and the admin's own (any id may be typed).
    Promise.all([
      call("GET", "/api/rooms/discover?pageSize=100").catch(() => ({ rooms: [] })),
      call("GET", "/api/rooms/mine").catch(() => ({ rooms: [] })),
    ]).then(([found, mine]) => {
      /** @type {Map<string, RoomRef>} */
      const byId = new Map();
      for (const r of found.rooms) byId.set(r.id, { id: r.id, name: r.name });
      for (const m of mine.rooms) byId.set(m.room.id, { id: m.room.id, name: m.room.name });
      setRooms([...byId.values()]);
    });
  }, []);

  /** @param {string} id */
  async function load(id) {
    setRoomId(id);
    setCreated(null);
    const list = await run(() => call("GET", `/api/rooms/${encodeURIComponent(id)}/live`));
    setStreams(list ? list.streams : null);
  }

  /** @param {SubmitEvent} event */
  function pick(event) {
    event.preventDefault();
    const id = formValue(/** @type {HTMLFormElement} */ (event.currentTarget), "room").trim();
    if (id) load(id);
  }

  /** @param {SubmitEvent} event */
  async function create(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const title = formValue(form, "title").trim();
    const made = await run(() => call("POST", `/api/rooms/${encodeURIComponent(roomId)}/live`, { title }), "Created: give the publisher this server and key (shown once).");
    if (!made) return;
    form.reset();
    const list = await run(() => call("GET", `/api/rooms/${encodeURIComponent(roomId)}/live`));
    if (list) setStreams(list.streams);
    setCreated({ rtmpServer: made.rtmpServer, streamKey: made.streamKey });
  }

  /** @param {LiveStream} stream */
  async function remove(stream) {
    if ((await run(() => call("DELETE", `/api/rooms/${encodeURIComponent(roomId)}/live/${encodeURIComponent(stream.streamId)}`), "Deleted: its publish ended, its key stopped working.")) === undefined) return;
    setStreams((streams ?? []).filter((s) => s.streamId !== stream.streamId));
  }

  return html`<section class="card" aria-labelledby="live-heading">
    <h2 id="live-heading">Live streams</h2>
    <form class="inline" onSubmit=${pick} aria-label="Choose a room">
      <div class="field grow">
        <label for="live-room">Room id</label>
        <input id="live-room" name="room" list="live-rooms" required maxlength="64" value=${roomId} />
        <datalist id="live-rooms">${rooms.map((r) => html`<option value=${r.id}>${r.name}</option>`)}</datalist>
      </div>
      <button type="submit" disabled=${busy}>Show streams</button>
    </form>
    ${rooms.length > 0 && html`<p class="meta room-picks">Rooms: ${rooms.map((r) => html`<button type="button" class="link-button" key=${r.id} onClick=${() => load(r.id)}>${r.name}</button> `)}</p>`}
    <${OutcomeLine} outcome=${outcome} />
    ${streams && html`
      <h3>Streams of ${rooms.find((r) => r.id === roomId)?.name ?? roomId}</h3>
      ${streams.length === 0 ? html`<p class="meta">This room has no live stream.</p>` : html`<ul class="admin-list" aria-label="Streams">
        ${streams.map((s) => html`<li key=${s.streamId}>
          <span class="name">${s.title || s.streamId}</span>
          <span class=${`tag ${s.live ? "ok" : ""}`}>${s.live ? "live" : "idle"}</span>
          <span class="meta hide-narrow">${when(s.createdAt)}</span>
          <button type="button" class="small danger" disabled=${busy} aria-label=${`Delete stream ${s.title || s.streamId}`} onClick=${() => remove(s)}>Delete</button>
        </li>`)}
      </ul>`}
      <form class="inline" onSubmit=${create} aria-label="New stream">
        <div class="field grow"><label for="live-title">Title of a new stream</label><input id="live-title" name="title" maxlength="200" /></div>
        <button type="submit" disabled=${busy}>Create stream</button>
      </form>
      ${created && html`<div class="obs-once" role="group" aria-labelledby="obs-heading">
        <h3 id="obs-heading">For the publisher's OBS (the key is shown this once)</h3>
        <div class="field"><label for="live-server">Server</label><input id="live-server" readonly value=${created.rtmpServer} /></div>
        <div class="field"><label for="live-key">Stream key (shown once)</label><input id="live-key" readonly value=${created.streamKey} /></div>
      </div>`}`}
    <p class="meta">${"Every stream of the server, kicking a publisher and a new key have no REST route yet: on the server machine, "}
      <code>synctv admin live list</code>${", "}<code>synctv admin live kick STREAM</code>${", "}<code>synctv admin live rotate-key STREAM</code>.</p>
  </section>`;
}
