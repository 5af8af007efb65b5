// What the room's management pages share: the caller's standing in the room, the links to the
// pages each one may open (shown in the room's header), and the header of those pages.
import { call, currentSession, explain } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { Link } from "../router.js";

/**
 * @typedef {import("./room.js").Access} Access
 * @typedef {{seq: string, type: string, payload: Record<string, any>}} RoomEvent
 */

/** The room's management pages, and the permission each needs. */
export const ROOM_TOOLS = [
  { path: "live", label: "Go live", permission: "manage_live_streams" },
  { path: "settings", label: "Settings", permission: "manage_room_settings" },
  { path: "members", label: "Members", permission: "view_members" },
];

/** The caller's standing in a room, loaded once. @param {string} roomId */
export function useRoomAccess(roomId) {
  const [access, setAccess] = useState(/** @type {Access | null} */ (null));
  const [error, setError] = useState("");
  useEffect(() => {
    call("GET", `/api/rooms/${roomId}`, undefined, { roomId }).then(setAccess, (e) => setError(explain(e)));
  }, [roomId]);
  return { access, error };
}

/** Links to the pages the caller may open (none for a guest). @param {{roomId: string, permissions: string[]}} props */
export function RoomTools({ roomId, permissions }) {
  const allowed = ROOM_TOOLS.filter((tool) => permissions.includes(tool.permission));
  if (!allowed.length || !currentSession()) return null;
  return html`<nav class="room-tools" aria-label="Room tools">
    ${allowed.map((tool) => html`<${Link} key=${tool.path} href=${`/rooms/${roomId}/${tool.path}`}>${tool.label}</${Link}>`)}
  </nav>`;
}

/**
 * A management page's frame: the room's name, a way back, and the page once the caller's
 * standing is known (or why it cannot be shown).
 * @param {{roomId: string, title: string, permission: string, render: (access: Access) => any}} props
 */
export function RoomToolPage({ roomId, title, permission, render }) {
  const { access, error } = useRoomAccess(roomId);
  let body;
  if (error) body = html`<p class="error" role="alert">${error}</p>`;
  else if (!access) body = html`<p>Loading…</p>`;
  else if (!access.myPermissions.includes(permission)) {
    body = html`<p class="error" role="alert">You need the room permission <code>${permission}</code> for this page.</p>`;
  } else body = render(access);
  return html`<main class="tool-page">
    <header class="room-head">
      <h1>${title}</h1>
      <span class="meta">${access?.room.name ?? ""}</span>
      <${Link} href=${`/rooms/${roomId}`} class="back">Back to the room</${Link}>
    </header>
    ${body}
  </main>`;
}

/**
 * What to tell someone whose own membership an event ended (kicked or banned while in the
 * room), or null.
 * @param {RoomEvent} event
 */
export function removalMessage(event) {
  const me = currentSession()?.user.id;
  if (!me || event.payload?.userId !== me) return null;
  if (event.type === "member_banned") return "You were banned from this room.";
  if (event.type !== "member_left" || event.payload.reason === "left") return null;
  return event.payload.reason === "banned"
    ? "You were banned from this room."
    : "You were removed from this room by a moderator.";
}

/** The room page once one's membership ended. @param {{room: {name: string}, message: string}} props */
export function Removed({ room, message }) {
  return html`<main class="card narrow"><h1>${room.name}</h1>
    <p class="notice" role="status">${message}</p>
    <p><${Link} href="/">Back to rooms</${Link}></p></main>`;
}

/** A button that copies ``text``, and says so. @param {{text: string, label: string}} props */
export function CopyButton({ text, label }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      window.prompt(label, text);
    }
  };
  return html`<button type="button" class="small" onClick=${copy} aria-label=${label}>${copied ? "Copied" : "Copy"}</button>`;
}

/** Seconds since an RFC 3339 time, as "3 min ago". @param {string} when */
export function ago(when) {
  const seconds = Math.max(0, (Date.now() - Date.parse(when)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}
