// The danmaku overlay: comments flown over the video. Live ones come from the channel's
// chat_message events; past ones of the playing media are replayed from
// GET /api/rooms/{room}/chat/timeline when the room's position passes theirs.
// Each comment is a text node in a span animated by CSS (style.css, "danmaku"); what varies per
// comment (colour, lane, distance) is set as CSS custom properties through the CSSOM
// (style.setProperty, which the CSP's style-src 'self' allows: no style attribute is written).
import { call } from "./api.js";
import { clientNow } from "./clock.js";
import { html, useEffect, useRef, useState } from "./lib.js";
import { roomPosition } from "./sync.js";

const PREFS_KEY = "synctv.danmaku";
const COLOR = /^#[0-9a-fA-F]{6}$/;
const TICK_MS = 250;
const SCROLL_SECONDS = 8;
const FIXED_SECONDS = 4;
const LANE_PX = 34; // one line of the overlay's text (style.css: font size × line height)
const MAX_ON_SCREEN = 80;
const MAX_TIMELINE_PAGES = 5;
// A past comment is replayed when the position moves past it in a normal step (not a seek).
const MAX_STEP_SECONDS = 1.5;

/**
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {import("./chat.js").ChatMessage} ChatMessage
 * @typedef {import("./sync.js").PlaybackState} PlaybackState
 * @typedef {{asDanmaku: boolean, mode: "scroll" | "top" | "bottom", color: string, show: boolean}} DanmakuPrefs
 * @typedef {{key: string, text: string, mode: string, color: string, lane: number, travel: number,
 *   seconds: number}} Flying
 */

/** @returns {DanmakuPrefs} */
export function loadDanmakuPrefs() {
  /** @type {DanmakuPrefs} */
  const prefs = { asDanmaku: false, mode: "scroll", color: "#ffffff", show: true };
  try {
    const saved = JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}");
    if (typeof saved.asDanmaku === "boolean") prefs.asDanmaku = saved.asDanmaku;
    if (["scroll", "top", "bottom"].includes(saved.mode)) prefs.mode = saved.mode;
    if (COLOR.test(saved.color)) prefs.color = saved.color;
    if (typeof saved.show === "boolean") prefs.show = saved.show;
  } catch {
    // defaults
  }
  return prefs;
}

/**
 * Store some of the preferences: the overlay changes `show`, the composer the rest, each
 * without overwriting the other's.
 * @param {Partial<DanmakuPrefs>} change
 */
export function saveDanmakuPrefs(change) {
  localStorage.setItem(PREFS_KEY, JSON.stringify({ ...loadDanmakuPrefs(), ...change }));
}

/** Lanes: for each, the client time (ms) from which a new comment does not overlap the last. */
class Lanes {
  constructor() {
    const fromTop = /** @type {number[]} */ ([]);
    // Scrolling and top comments share the lanes from the top; bottom ones count from the bottom.
    /** @type {Record<string, number[]>} */
    this.busy = { scroll: fromTop, top: fromTop, bottom: [] };
  }

  /** @param {string} mode @param {number} count @param {number} now @param {number} holdMs */
  take(mode, count, now, holdMs) {
    const lanes = this.busy[mode] ?? this.busy.scroll;
    let best = 0;
    for (let lane = 0; lane < count; lane++) {
      const free = lanes[lane] ?? 0;
      if (free <= now) {
        best = lane;
        break;
      }
      if (free < (lanes[best] ?? 0)) best = lane;
    }
    lanes[best] = now + holdMs;
    return best;
  }
}

/**
 * The overlay on the player, with its on/off switch.
 * @param {{roomId: string, channel: RoomChannel | null, state: PlaybackState | null, canView: boolean}} props
 */
export function DanmakuOverlay({ roomId, channel, state, canView }) {
  const [flying, setFlying] = useState(/** @type {Flying[]} */ ([]));
  const [show, setShow] = useState(() => loadDanmakuPrefs().show);
  const layer = /** @type {{current: HTMLDivElement | null}} */ (useRef(null));
  const lanes = useRef(new Lanes());
  const timeline = useRef(/** @type {ChatMessage[]} */ ([]));
  const shown = useRef(/** @type {Map<string, number>} */ (new Map())); // id → client ms shown
  const stateRef = useRef(state);
  stateRef.current = state;
  const showRef = useRef(show);
  showRef.current = show;
  const mediaId = state?.mediaId ?? "";

  /** @param {ChatMessage} message */
  const fly = (message) => {
    const element = layer.current;
    if (!showRef.current || !element || !message.danmaku || !message.text) return;
    const now = performance.now();
    if ((shown.current.get(message.id) ?? -Infinity) > now - (SCROLL_SECONDS + 2) * 1000) return;
    shown.current.set(message.id, now);
    const mode = message.danmaku.mode;
    const width = element.clientWidth || 640;
    const count = Math.max(1, Math.floor((element.clientHeight || 300) / LANE_PX) - 1);
    // A scrolling comment holds its lane until its tail has come in (a guess from its length).
    const estimated = Math.min(width, message.text.length * 15 + 40);
    const hold = mode === "scroll" ? (estimated / (width + estimated)) * SCROLL_SECONDS * 1000 + 200 : FIXED_SECONDS * 1000;
    const lane = lanes.current.take(mode, mode === "bottom" ? Math.ceil(count / 3) : count, now, hold);
    /** @type {Flying} */
    const item = {
      key: `${message.id}:${Math.round(now)}`,
      text: message.text,
      mode,
      color: COLOR.test(message.danmaku.color) ? message.danmaku.color : "#ffffff",
      lane,
      travel: width,
      seconds: mode === "scroll" ? SCROLL_SECONDS : FIXED_SECONDS,
    };
    setFlying((now) => [...now.slice(-(MAX_ON_SCREEN - 1)), item]);
  };

  // The playing media's past danmaku, in position order.
  useEffect(() => {
    timeline.current = [];
    if (!mediaId || !canView) return;
    let stopped = false;
    (async () => {
      /** @type {ChatMessage[]} */
      const all = [];
      let from = 0;
      for (let page = 0; page < MAX_TIMELINE_PAGES; page++) {
        const answer = await call("GET", `/api/rooms/${roomId}/chat/timeline?media=${encodeURIComponent(mediaId)}`
          + `&from=${from}&to=${1e9}`, undefined, { roomId });
        const got = /** @type {ChatMessage[]} */ (answer.danmaku);
        for (const m of got) if (!all.some((a) => a.id === m.id)) all.push(m);
        if (!answer.truncated || got.length === 0) break;
        from = got[got.length - 1].danmaku?.position ?? from;
      }
      if (!stopped) timeline.current = merge(timeline.current, all);
    })().catch(() => {
      // no replay; live danmaku still fly
    });
    return () => {
      stopped = true;
    };
  }, [roomId, mediaId, canView]);

  // Live danmaku, flown now and kept for a replay.
  useEffect(() => {
    if (!channel) return;
    return channel.listen({
      message: (message) => {
        const event = message.event;
        if (event?.type === "chat_message") {
          const added = /** @type {ChatMessage} */ (event.payload);
          if (!added.danmaku || added.danmaku.mediaId !== stateRef.current?.mediaId) return;
          timeline.current = merge(timeline.current, [added]);
          fly(added);
        } else if (event?.type === "chat_message_deleted") {
          timeline.current = timeline.current.filter((m) => m.id !== event.payload.id);
          setFlying((now) => now.filter((f) => !f.key.startsWith(`${event.payload.id}:`)));
        }
      },
    });
  }, [channel]);

  // Replay: the past danmaku whose position the room's position has just passed.
  useEffect(() => {
    if (!channel) return;
    let last = /** @type {number | null} */ (null);
    const tick = () => {
      const room = stateRef.current;
      if (!room || !room.mediaId || !room.playing) {
        last = null;
        return;
      }
      const now = roomPosition(room, clientNow(), channel.clock.offset);
      if (last !== null && now > last && now - last < MAX_STEP_SECONDS) {
        for (const m of timeline.current) {
          const at = m.danmaku?.position ?? -1;
          if (at > now) break;
          if (at > last && m.danmaku?.mediaId === room.mediaId) fly(m);
        }
      }
      last = now;
    };
    const timer = setInterval(tick, TICK_MS);
    return () => clearInterval(timer);
  }, [channel]);

  const toggle = () => {
    const next = !show;
    setShow(next);
    if (!next) setFlying([]);
    saveDanmakuPrefs({ show: next });
  };

  // The switch first: comments fly over it (they let clicks through).
  return html`<div class="danmaku-layer" ref=${layer} data-danmaku-count=${flying.length}>
    <button type="button" class="small danmaku-toggle" aria-pressed=${show ? "true" : "false"} onClick=${toggle}
      title="Show or hide danmaku over the video">${show ? "Danmaku on" : "Danmaku off"}</button>
    ${show && flying.map((f) => html`<span key=${f.key} class=${`danmaku danmaku-${f.mode}`}
      style=${{ "--danmaku-color": f.color, "--danmaku-lane": String(f.lane), "--danmaku-travel": `${f.travel}px`,
        "--danmaku-seconds": `${f.seconds}s` }}
      onAnimationEnd=${() => setFlying((now) => now.filter((x) => x.key !== f.key))}>${f.text}</span>`)}
  </div>`;
}

/** @param {ChatMessage[]} into @param {ChatMessage[]} more */
function merge(into, more) {
  const byId = new Map(into.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => (a.danmaku?.position ?? 0) - (b.danmaku?.position ?? 0));
}
