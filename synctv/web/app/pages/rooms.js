// Rooms: discovery of public rooms (search), my rooms, create a room.
import { call, explain } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { register } from "../opaque.js";
import { Link, navigate } from "../router.js";
import { Field } from "./forms.js";

/**
 * @typedef {{id: string, name: string, description: string, isPublic: boolean,
 *   hasPassword: boolean, memberCount: number, settings: Record<string, any>}} Room
 */

/** @param {{room: Room, role?: string}} props */
function RoomRow({ room, role }) {
  return html`<li class="room-row">
    <${Link} href=${`/rooms/${room.id}`}>${room.name}</${Link}>
    <span class="meta">${room.memberCount} member${room.memberCount === 1 ? "" : "s"}
      ${room.hasPassword ? " · password" : ""}${room.isPublic ? "" : " · private"}${role ? ` · ${role}` : ""}</span>
  </li>`;
}

export function RoomsPage() {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState(/** @type {Room[]} */ ([]));
  const [mine, setMine] = useState(/** @type {{room: Room, role: string}[]} */ ([]));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    call("GET", "/api/rooms/mine").then((r) => setMine(r.rooms), (e) => setError(explain(e)));
  }, []);
  useEffect(() => {
    const timer = setTimeout(() => {
      call("GET", `/api/rooms/discover?q=${encodeURIComponent(query)}`).then(
        (r) => setFound(r.rooms),
        (e) => setError(explain(e)),
      );
    }, 200);
    return () => clearTimeout(timer);
  }, [query]);

  /** @param {SubmitEvent} event */
  const create = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    const password = String(form.get("roomPassword") ?? "");
    const isPublic = form.get("isPublic") === "on";
    setBusy(true);
    try {
      // A password is set with OPAQUE (it never leaves the browser): the room is created
      // private, gets its password record, and only then becomes public.
      const created = await call("POST", "/api/rooms", {
        name: String(form.get("roomName")),
        isPublic: isPublic && !password,
        settings: { allowGuestJoin: form.get("allowGuests") === "on" },
      });
      const id = created.room.id;
      if (password) {
        await register({
          start: `/api/rooms/${id}/password/opaque/registration/start`,
          finish: `/api/rooms/${id}/password/opaque/registration/finish`,
          fields: {},
          password,
        });
        if (isPublic) await call("PATCH", `/api/rooms/${id}`, { isPublic: true });
      }
      navigate(`/rooms/${id}`);
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };

  return html`
    <main class="rooms">
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <section class="card">
        <h2>Create a room</h2>
        <form onSubmit=${create} class="inline">
          <${Field} label="Room name" name="roomName" required maxlength="100" />
          <${Field} label="Password (optional)" name="roomPassword" type="password" autocomplete="new-password" />
          <div class="field check"><input id="field-isPublic" name="isPublic" type="checkbox" checked />
            <label for="field-isPublic">Public (listed in discovery)</label></div>
          <div class="field check"><input id="field-allowGuests" name="allowGuests" type="checkbox" />
            <label for="field-allowGuests">Guests without an account (public rooms without a password)</label></div>
          <button type="submit" disabled=${busy}>Create</button>
        </form>
      </section>
      <section class="card">
        <h2>My rooms</h2>
        ${mine.length ? html`<ul class="room-list">${mine.map((m) => html`<${RoomRow} key=${m.room.id} room=${m.room} role=${m.role} />`)}</ul>`
          : html`<p class="aside">You are in no room yet.</p>`}
      </section>
      <section class="card">
        <h2>Discover</h2>
        <div class="field"><label for="room-search">Search public rooms</label>
          <input id="room-search" type="search" value=${query}
            onInput=${(/** @type {Event} */ e) => setQuery(/** @type {HTMLInputElement} */ (e.target).value)} /></div>
        ${found.length ? html`<ul class="room-list">${found.map((r) => html`<${RoomRow} key=${r.id} room=${r} />`)}</ul>`
          : html`<p class="aside">No public room${query ? " matches" : " yet"}.</p>`}
      </section>
    </main>`;
}
