// The player: picks the way to play a source (<video> for MP4/WebM, hls.js for HLS unless the
// browser plays it natively, mpegts.js for HTTP-FLV: each library loaded only when needed), and
// keeps it in step with the room: every 250 ms the correction of sync.js, every 2 s a report.
import { html, useEffect, useRef, useState } from "./lib.js";
import { clientNow } from "./clock.js";
import { correct, roomPosition } from "./sync.js";

const CORRECT_EVERY_MS = 250;
const REPORT_EVERY_MS = 2000;

/**
 * @typedef {import("./sync.js").PlaybackState} PlaybackState
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {{id: string, name: string, kind: string, source: Record<string, any>}} Media
 * @typedef {{destroy: () => void}} Attached
 */

/** How to play a source: "native", "hls" or "flv". @param {Media} media */
export function playbackKind(media) {
  const source = media.source;
  if (source.kind === "live") return "flv";
  const path = String(source.url ?? "").split(/[?#]/)[0].toLowerCase();
  if (path.endsWith(".m3u8")) return "hls";
  if (path.endsWith(".flv")) return "flv";
  return "native";
}

/** The URL the player loads. @param {Media} media */
export function mediaUrl(media) {
  const source = media.source;
  if (source.kind === "live") return `/live/${encodeURIComponent(source.streamId)}.flv`;
  return String(source.url ?? "");
}

/** mpegts.js is a UMD bundle: loaded once as a classic script from this origin. */
function loadMpegts() {
  const global = /** @type {any} */ (window);
  if (global.mpegts) return Promise.resolve(global.mpegts);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL("../vendor/mpegts.js/mpegts.js", import.meta.url).href;
    script.onload = () => resolve(global.mpegts);
    script.onerror = () => reject(new Error("mpegts.js did not load"));
    document.head.append(script);
  });
}

/**
 * Attach ``media`` to ``video``; the returned handle undoes it.
 * @param {HTMLVideoElement} video @param {Media} media @returns {Promise<Attached>}
 */
export async function attach(video, media) {
  const url = mediaUrl(media);
  const kind = playbackKind(media);
  if (kind === "hls" && !video.canPlayType("application/vnd.apple.mpegurl")) {
    const { default: Hls } = await import("../vendor/hls.js/hls.min.mjs");
    const hls = new Hls({ enableWorker: true });
    hls.loadSource(url);
    hls.attachMedia(video);
    return { destroy: () => hls.destroy() };
  }
  if (kind === "flv") {
    const mpegts = await loadMpegts();
    const player = mpegts.createPlayer({ type: "flv", isLive: media.kind === "live", url });
    player.attachMediaElement(video);
    player.load();
    return { destroy: () => player.destroy() };
  }
  video.src = url;
  return {
    destroy: () => {
      video.removeAttribute("src");
      video.load();
    },
  };
}

/**
 * @param {{media: Media | null, state: PlaybackState | null, channel: RoomChannel | null,
 *   canControl: boolean, onDrift: (drift: number | null) => void}} props
 */
export function Player({ media, state, channel, canControl, onDrift }) {
  const video = /** @type {{current: HTMLVideoElement | null}} */ (useRef(null));
  const stateRef = useRef(state);
  stateRef.current = state;
  const [muted, setMuted] = useState(false);
  const [buffering, setBuffering] = useState(false);
  const [seeking, setSeeking] = useState(false);
  const [failure, setFailure] = useState("");
  const [position, setPosition] = useState(0);
  const flags = useRef({ seeking: false, buffering: false });
  flags.current = { seeking, buffering };

  useEffect(() => {
    const element = video.current;
    if (!element || !media) return;
    let attached = /** @type {Attached | null} */ (null);
    let gone = false;
    setFailure("");
    attach(element, media).then((handle) => {
      if (gone) handle.destroy();
      else attached = handle;
    }, (error) => setFailure(String(error?.message ?? error)));
    return () => {
      gone = true;
      attached?.destroy();
    };
  }, [media?.id]);

  // Keep in step: the correction table, applied every CORRECT_EVERY_MS.
  useEffect(() => {
    const element = video.current;
    if (!element || !media || !channel) return;
    const step = () => {
      const room = stateRef.current;
      if (!room || room.mediaId !== media.id || element.readyState < 1) {
        onDrift(null);
        return;
      }
      const target = roomPosition(room, clientNow(), channel.clock.offset);
      const live = room.kind === "live";
      const correction = live
        ? { kind: "none", rate: 1, seekTo: null }
        : correct(element.currentTime, target, room.speed, room.playing, flags.current);
      onDrift(live ? null : element.currentTime - target);
      setPosition(element.currentTime);
      if (correction.kind === "seek" && correction.seekTo !== null) element.currentTime = correction.seekTo;
      if (Math.abs(element.playbackRate - correction.rate) > 1e-3) element.playbackRate = correction.rate;
      if (room.playing && element.paused) {
        element.play().catch((error) => {
          if (error?.name === "NotAllowedError" && !element.muted) {
            element.muted = true; // autoplay with sound needs a gesture: start muted
            setMuted(true);
          }
        });
      } else if (!room.playing && !element.paused) {
        element.pause();
      }
    };
    const report = () => {
      const room = stateRef.current;
      if (!room || room.mediaId !== media.id) return;
      const drift = element.currentTime - roomPosition(room, clientNow(), channel.clock.offset);
      channel.report({ mediaId: media.id, position: element.currentTime, buffering: flags.current.buffering, drift });
    };
    const stepping = setInterval(step, CORRECT_EVERY_MS);
    const reporting = setInterval(report, REPORT_EVERY_MS);
    return () => {
      clearInterval(stepping);
      clearInterval(reporting);
    };
  }, [media?.id, channel]);

  if (!media) {
    return html`<div class="player empty"><p>Nothing is playing. Add a URL to the playlist and press play.</p></div>`;
  }
  const duration = state?.duration || video.current?.duration || 0;
  /** @param {Record<string, unknown>} command */
  const send = (command) => channel?.command({ version: state?.version, expectedMediaId: media.id, ...command });
  return html`
    <div class="player">
      <video
        ref=${video}
        playsinline
        onWaiting=${() => setBuffering(true)}
        onPlaying=${() => setBuffering(false)}
        onCanPlay=${() => setBuffering(false)}
        onError=${() => setFailure("this source cannot be played here")}
      ></video>
      <div class="controls">
        <button type="button" disabled=${!canControl}
          onClick=${() => send({ action: state?.playing ? "pause" : "play" })}>
          ${state?.playing ? "Pause" : "Play"}
        </button>
        <input type="range" aria-label="Position" min="0" max=${Math.max(duration, 1)} step="0.1"
          value=${position} disabled=${!canControl || state?.kind === "live"}
          onPointerDown=${() => setSeeking(true)}
          onChange=${(/** @type {Event} */ e) => {
            setSeeking(false);
            send({ action: "seek", position: Number(/** @type {HTMLInputElement} */ (e.target).value) });
          }} />
        <span class="time">${clockText(position)} / ${clockText(duration)}</span>
        <label>Speed
          <select disabled=${!canControl || state?.kind === "live"} value=${String(state?.speed ?? 1)}
            onChange=${(/** @type {Event} */ e) => send({ action: "speed", speed: Number(/** @type {HTMLSelectElement} */ (e.target).value) })}>
            ${[0.5, 0.75, 1, 1.25, 1.5, 2].map((s) => html`<option value=${String(s)}>${s}×</option>`)}
          </select>
        </label>
        ${muted && html`<button type="button" onClick=${() => {
          if (video.current) video.current.muted = false;
          setMuted(false);
        }}>Unmute</button>`}
        ${buffering && html`<span class="badge">buffering</span>`}
      </div>
      ${failure && html`<p class="error" role="alert">${failure}</p>`}
    </div>`;
}

/** Seconds as m:ss (or h:mm:ss). @param {number} seconds */
export function clockText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
  const s = Math.floor(seconds % 60).toString().padStart(2, "0");
  const m = Math.floor(seconds / 60) % 60;
  const h = Math.floor(seconds / 3600);
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
