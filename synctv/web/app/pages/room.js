// A room: the synchronized player, the playlist, the member list with each player's drift.
// Chat with the danmaku overlay (chat.js, danmaku.js) and voice (voice.js) fill their slots.
import { ApiError, call, currentSession, enterAsGuest, explain, guestPass, tokenFor } from "../api.js";
import { RoomChannel } from "../channel.js";
import { Chat } from "../chat.js";
import { DanmakuOverlay } from "../danmaku.js";
import { html, useEffect, useRef, useState } from "../lib.js";
import { login, WrongPassword } from "../opaque.js";
import { Player } from "../player.js";
import { Playlist } from "../playlist.js";
import { Link } from "../router.js";
import { Voice } from "../voice.js";
import { Field } from "./forms.js";
import { Removed, RoomTools, removalMessage } from "./roomtools.js";

const PRESENCE_EVERY_MS = 2000;

/**
 * @typedef {import("../sync.js").PlaybackState} PlaybackState
 * @typedef {import("../player.js").Media} Media
 * @typedef {{room: import("./rooms.js").Room, myRole: string | null, myPermissions: string[]}} Access
 */

/** @param {{roomId: string}} props */
export function RoomPage({ roomId }) {
  const [access, setAccess] = useState(/** @type {Access | null} */ (null));
  const [stage, setStage] = useState("loading");
  const [error, setError] = useState("");
  const signedIn = currentSession() !== null;

  const load = async () => {
    if (!signedIn && !guestPass(roomId)) return setStage("guest");
    try {
      const found = await call("GET", `/api/rooms/${roomId}`, undefined, { roomId });
      setAccess(found);
      setStage(found.myRole ? "ready" : "join");
    } catch (e) {
      setError(explain(e));
      setStage("error");
    }
  };
  useEffect(() => {
    load();
  }, [roomId]);

  if (stage === "loading") return html`<main class="card narrow"><p>Loading the room…</p></main>`;
  if (stage === "error") {
    return html`<main class="card narrow"><h1>Cannot open this room</h1><p class="error" role="alert">${error}</p>
      <p><${Link} href="/">Back to rooms</${Link}></p></main>`;
  }
  if (stage === "guest") {
    const enter = async () => {
      try {
        await enterAsGuest(roomId);
        await load();
      } catch (e) {
        setError(explain(e));
      }
    };
    return html`<main class="card narrow"><h1>Join this room</h1>
      <p><${Link} href=${`/signin?next=/rooms/${roomId}`}>Sign in</${Link}> to join, or watch as a guest if the room allows guests.</p>
      <button type="button" onClick=${enter}>Enter as guest</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}</main>`;
  }
  if (stage === "join" || stage === "pending") {
    return html`<${JoinForm} access=${/** @type {Access} */ (access)} pending=${stage === "pending"}
      joined=${(/** @type {string} */ status) => (status === "pending" ? setStage("pending") : load())} />`;
  }
  return html`<${RoomView} roomId=${roomId} initial=${/** @type {Access} */ (access)} />`;
}

/** @param {{access: Access, pending: boolean, joined: (status: string) => void}} props */
function JoinForm({ access, pending, joined }) {
  const [error, setError] = useState("");
  const room = access.room;
  if (pending) {
    return html`<main class="card narrow"><h1>${room.name}</h1>
      <p role="status">Your request to join waits for the room's approval.</p></main>`;
  }
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    try {
      // A password is proven with OPAQUE: it never leaves the browser.
      const result = room.hasPassword
        ? await login({
          start: `/api/rooms/${room.id}/password/opaque/login/start`,
          finish: `/api/rooms/${room.id}/password/opaque/login/finish`,
          fields: {},
          password: String(form.get("password")),
          token: tokenFor(room.id),
          roomId: room.id,
        })
        : await call("PUT", `/api/rooms/${room.id}/members/@me`, {}, { roomId: room.id });
      joined(result.status);
    } catch (e) {
      setError(e instanceof WrongPassword ? "Wrong room password." : explain(e));
    }
  };
  return html`<main class="card narrow"><h1>${room.name}</h1>
    ${room.description && html`<p>${room.description}</p>`}
    <form onSubmit=${submit}>
      ${room.hasPassword && html`<${Field} label="Room password" name="password" type="password" required autocomplete="off" />`}
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit">Join room</button>
    </form></main>`;
}

/** @param {{roomId: string, initial: Access}} props */
function RoomView({ roomId, initial }) {
  const [access, setAccess] = useState(initial);
  const [state, setState] = useState(/** @type {PlaybackState | null} */ (null));
  const [media, setMedia] = useState(/** @type {Media[]} */ ([]));
  const [link, setLink] = useState("connecting");
  const [notice, setNotice] = useState("");
  const [drift, setDrift] = useState(/** @type {number | null} */ (null));
  const [channel, setChannel] = useState(/** @type {RoomChannel | null} */ (null));
  const [removed, setRemoved] = useState(""); // kicked or banned while here: why
  const stateRef = useRef(state);
  stateRef.current = state;
  const can = (/** @type {string} */ p) => access.myPermissions.includes(p);

  useEffect(() => {
    /** @param {PlaybackState} next */
    const apply = (next) => {
      const current = stateRef.current;
      if (current && Number(next.version) < Number(current.version)) return;
      stateRef.current = next;
      setState(next);
    };
    const opened = new RoomChannel(roomId, {
      welcome: (welcome) => {
        setAccess(/** @type {Access} */ (welcome.room));
        apply(welcome.playback);
      },
      playback: apply,
      event: (event) => {
        if (event.type === "room_deleted") setNotice("This room was deleted.");
        const removal = removalMessage(event);
        if (removal) {
          opened.close();
          setRemoved(removal);
        }
      },
      error: (error) => setNotice(`${error.message} (${error.code})`),
      status: (status, detail) => setLink(detail && status === "closed" ? `${status}: ${detail}` : status),
    });
    setChannel(opened);
    opened.open();
    return () => opened.close();
  }, [roomId]);

  if (removed) return html`<${Removed} room=${access.room} message=${removed} />`;
  const clockError = drift === null ? null : channel?.clock.errorBound ?? null;
  const playing = state?.mediaId ? media.find((m) => m.id === state.mediaId) ?? null : null;
  return html`
    <main class="room">
      <header class="room-head">
        <h1>${access.room.name}</h1>
        <span class=${`link ${link}`} role="status" aria-label="Connection">${link}</span>
        <span class="sync" aria-label="My drift">${drift === null ? "" : `drift ${Math.round(drift * 1000)} ms`}</span>
        <span class="sync" aria-label="Clock error">${clockError === null ? "" : `clock ±${Math.round(clockError * 1000)} ms`}</span>
        <${RoomTools} roomId=${roomId} permissions=${access.myPermissions} />
        <${InviteLink} roomId=${roomId} />
      </header>
      ${notice && html`<p class="notice" role="status">${notice} <button type="button" class="link-button" onClick=${() => setNotice("")}>dismiss</button></p>`}
      <div class="room-grid">
        <section class="stage" aria-label="Player">
          <${Player} roomId=${roomId} media=${playing} state=${state} channel=${channel}
            canControl=${can("control_playback_state")} onDrift=${setDrift} />
          <div class="danmaku-slot" data-slot="danmaku">
            <${DanmakuOverlay} roomId=${roomId} channel=${channel} state=${state} canView=${can("view_chat_history")} />
          </div>
        </section>
        <aside class="side">
          <${Playlist} roomId=${roomId} channel=${channel} current=${state?.mediaId ?? ""}
            permissions=${access.myPermissions} onMedia=${setMedia}
            play=${(/** @type {string} */ mediaId) => channel?.command({ action: "start", mediaId, version: state?.version })} />
          <${Members} roomId=${roomId} channel=${channel} allowed=${can("view_members")} />
          <div data-slot="chat"><${Chat} roomId=${roomId} channel=${channel} permissions=${access.myPermissions}
            chatEnabled=${access.room.settings?.chatEnabled !== false} mediaSelected=${Boolean(state?.mediaId)} /></div>
          <div data-slot="voice"><${Voice} roomId=${roomId} channel=${channel} allowed=${can("use_voice_chat")}
            enabled=${access.room.settings?.voiceChatEnabled !== false} /></div>
        </aside>
      </div>
    </main>`;
}

/** The room's address, copied for sharing. @param {{roomId: string}} props */
function InviteLink({ roomId }) {
  const [copied, setCopied] = useState(false);
  const link = `${location.origin}/rooms/${roomId}`;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch {
      window.prompt("Copy the invite link", link);
    }
  };
  return html`<button type="button" class="small invite" onClick=${copy}>${copied ? "Link copied" : "Copy invite link"}</button>`;
}

/**
 * @typedef {{connectionId: string, userId: string, role: string, buffering: boolean, drift: number | null}} Online
 * @typedef {{userId: string, name: string, role: string, tabs: number, buffering: boolean, drift: number | null}} Watcher
 */

/**
 * One row per person: their connections (tabs, devices) counted, buffering if any of them is,
 * and the drift furthest from the room's. A name the member list lacks (not fetched, or past its
 * first page; one's own comes from the session) reads "guest" for a guest, else "someone".
 * @param {Online[]} online @param {Record<string, string>} names @returns {Watcher[]}
 */
function watchers(online, names) {
  /** @type {Map<string, Watcher>} */
  const byUser = new Map();
  for (const p of online) {
    const drift = p.drift ?? null;
    const seen = byUser.get(p.userId);
    if (!seen) {
      const name = names[p.userId] ?? (p.role === "guest" ? "guest" : "someone");
      byUser.set(p.userId, { userId: p.userId, name, role: p.role, tabs: 1, buffering: p.buffering, drift });
      continue;
    }
    seen.tabs += 1;
    seen.buffering ||= p.buffering;
    if (drift !== null && (seen.drift === null || Math.abs(drift) > Math.abs(seen.drift))) seen.drift = drift;
  }
  return [...byUser.values()];
}

/** Whether ``error`` is the server refusing this caller ``view_members``. @param {unknown} error */
const refused = (error) => error instanceof ApiError && error.status === 403;

/**
 * Who is connected, each player's buffering state and drift (view_members). Polled every 2 s, and
 * once as soon as this page's own channel is (re)connected, so it lists itself at once. The two
 * requests stand alone: names missing still list the connections.
 * @param {{roomId: string, channel: RoomChannel | null, allowed: boolean}} props
 */
function Members({ roomId, channel, allowed }) {
  const [online, setOnline] = useState(/** @type {Online[] | null} */ (null));
  const [names, setNames] = useState(/** @type {Record<string, string>} */ ({}));
  const [worst, setWorst] = useState(/** @type {number | null} */ (null));
  const [denied, setDenied] = useState(false);
  useEffect(() => {
    setDenied(false);
    if (!allowed || !channel) return undefined;
    let stopped = false;
    /** @type {number | undefined} */
    let timer;
    const poll = async () => {
      const [presence, members] = await Promise.allSettled([
        call("GET", `/api/rooms/${roomId}/presence`, undefined, { roomId }),
        call("GET", `/api/rooms/${roomId}/members`, undefined, { roomId }),
      ]);
      if (stopped) return;
      if (presence.status === "fulfilled") {
        setOnline(presence.value.online);
        setWorst(presence.value.worstDrift);
        setDenied(false);
      } else if (refused(presence.reason)) {
        setDenied(true); // the role changed meanwhile: asking again cannot help
        window.clearInterval(timer);
      } // else: the next poll tries again
      if (members.status === "fulfilled") {
        setNames(Object.fromEntries(members.value.members.map((/** @type {{userId: string, username: string}} */ m) => [m.userId, m.username])));
      }
    };
    // The first server message after the socket opens comes after the server counted this
    // connection present (the welcome, or on a resume the first clock answer).
    let fresh = false;
    const unlisten = channel.listen({
      status: (status) => {
        fresh = status === "open";
      },
      message: () => {
        if (!fresh) return;
        fresh = false;
        poll();
      },
    });
    if (channel.isOpen) poll(); // else at its first message, or on the timer if it never opens
    timer = window.setInterval(poll, PRESENCE_EVERY_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
      unlisten();
    };
  }, [roomId, channel, allowed]);
  if (!allowed || denied) {
    return html`<section class="card members" aria-label="Members">
      <h2>Watching</h2>
      <p class="meta">You cannot see who is watching.</p>
    </section>`;
  }
  const session = currentSession();
  const me = session?.user.id ?? guestPass(roomId)?.guestId;
  const known = session ? { [session.user.id]: session.user.username, ...names } : names;
  const inStep = worst === null || worst < 0.1;
  return html`<section class="card members" aria-label="Members">
    <h2>Watching <span class=${`sync-dot ${inStep ? "ok" : "off"}`} title=${inStep ? "in sync" : "out of sync"}></span></h2>
    ${online !== null && online.length === 0 && html`<p class="meta">Nobody is connected.</p>`}
    <ul>${watchers(online ?? [], known).map((w) => html`<li key=${w.userId}>
      <span class="name" title=${w.name}>${w.name}${w.userId === me ? " (you)" : ""}</span>
      <span class="meta">${w.role}${w.tabs > 1 ? ` · ${w.tabs} tabs` : ""}${w.buffering ? " · buffering" : ""}</span>
      <span class="drift">${w.drift === null ? "–" : `${Math.round(w.drift * 1000)} ms`}</span>
    </li>`)}</ul>
  </section>`;
}
