// The player: picks the way to play a source (<video> for MP4/WebM, hls.js for HLS unless the
// browser plays it natively, mpegts.js for HTTP-FLV: each library loaded only when needed), and
// keeps it in step with the room: every 250 ms the correction of sync.js, every 2 s a report.
// Where to fetch the media is the viewer's own (GET …/playback: direct or through /proxy, with
// subtitles): refetched at its refreshAt and swapped in at the current position.
import { call } from "./api.js";
import { html, useEffect, useRef, useState } from "./lib.js";
import { clientNow } from "./clock.js";
import { trackUrl } from "./subtitles.js";
import { correct, roomPosition } from "./sync.js";

const CORRECT_EVERY_MS = 250;
const REPORT_EVERY_MS = 2000;

/**
 * @typedef {import("./sync.js").PlaybackState} PlaybackState
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {{id: string, name: string, kind: string, source: Record<string, any>, addedBy?: string}} Media
 * @typedef {{destroy: () => void}} Attached
 * @typedef {{name: string, url: string, format: string | null}} Subtitle
 * @typedef {{url: string, headers: Record<string, string>, subtitles: Subtitle[], refreshAt: number | null,
 *   via: string}} Source  where the player fetches the media, for this viewer
 * @typedef {{label: string, src: string}} Track
 */

/** How to play a source: "native", "hls" or "flv". @param {Media} media */
export function playbackKind(media) {
  const source = media.source;
  if (source.kind === "live") return "flv";
  const path = String(source.url ?? source.path ?? "").split(/[?#]/)[0].toLowerCase();
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

/**
 * This viewer's way to fetch the room's current media (``GET …/playback``); the source's own URL
 * when the answer is about other media (the room moved on: the caller follows) or has none.
 * @param {string} roomId @param {Media} media @returns {Promise<Source>}
 */
export async function resolveSource(roomId, media) {
  /** @type {Source} */
  const fallback = { url: mediaUrl(media), headers: {}, subtitles: [], refreshAt: null, via: "direct" };
  const found = await call("GET", `/api/rooms/${roomId}/playback`, undefined, { roomId });
  const playback = found.playback;
  if (!playback || found.state.mediaId !== media.id) return fallback;
  if (playback.kind === "live" && playback.flvUrl) return { ...fallback, url: playback.flvUrl, refreshAt: playback.expiresAt };
  if (playback.mediaId !== media.id || !playback.url) return fallback;
  return {
    url: playback.url,
    headers: playback.headers ?? {},
    subtitles: playback.subtitles ?? [],
    refreshAt: playback.refreshAt ?? null,
    via: playback.via,
  };
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
 * Attach ``media`` to ``video`` from ``source`` (its URL and the headers to send, which a
 * <video> cannot: hls.js and mpegts.js do); the returned handle undoes it.
 * @param {HTMLVideoElement} video @param {Media} media @param {Source} [source] @returns {Promise<Attached>}
 */
export async function attach(video, media, source) {
  const url = source?.url ?? mediaUrl(media);
  const headers = Object.entries(source?.headers ?? {});
  const kind = playbackKind(media);
  if (kind === "hls" && !video.canPlayType("application/vnd.apple.mpegurl")) {
    const { default: Hls } = await import("../vendor/hls.js/hls.min.mjs");
    const hls = new Hls({
      enableWorker: true,
      xhrSetup: (/** @type {XMLHttpRequest} */ xhr) => headers.forEach(([k, v]) => xhr.setRequestHeader(k, v)),
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    return { destroy: () => hls.destroy() };
  }
  if (kind === "flv") {
    const mpegts = await loadMpegts();
    const player = mpegts.createPlayer({ type: "flv", isLive: media.kind === "live", url },
      headers.length ? { headers: Object.fromEntries(headers) } : undefined);
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
 * @param {{roomId: string, media: Media | null, state: PlaybackState | null, channel: RoomChannel | null,
 *   canControl: boolean, onDrift: (drift: number | null) => void}} props
 */
export function Player({ roomId, media, state, channel, canControl, onDrift }) {
  const video = /** @type {{current: HTMLVideoElement | null}} */ (useRef(null));
  const stateRef = useRef(state);
  stateRef.current = state;
  const [muted, setMuted] = useState(false);
  const [buffering, setBuffering] = useState(false);
  const [seeking, setSeeking] = useState(false);
  const [failure, setFailure] = useState("");
  const [position, setPosition] = useState(0);
  const [tracks, setTracks] = useState(/** @type {Track[]} */ ([]));
  const [shown, setShown] = useState(-1);
  const channelRef = useRef(channel);
  channelRef.current = channel;
  const flags = useRef({ seeking: false, buffering: false });
  flags.current = { seeking, buffering };

  useEffect(() => {
    const element = video.current;
    if (!element || !media) return;
    let attached = /** @type {Attached | null} */ (null);
    let gone = false;
    let timer = 0;
    /** @type {string[]} */
    let blobs = [];
    setFailure("");
    setTracks([]);
    setShown(-1);
    /** @param {boolean} swap  a refreshed URL: keep the position */
    const load = async (swap) => {
      /** @type {Source | null} */
      let source = null;
      try {
        source = await resolveSource(roomId, media);
      } catch (error) {
        if (swap) return schedule(Date.now() / 1000 + 5, 5); // the old link may still work: try again soon
        source = null; // the source's own URL, as a last resort
      }
      if (gone) return;
      // Where the player is, and where it will be when the new source has loaded.
      const at = element.currentTime;
      const since = performance.now();
      const rate = element.paused ? 0 : element.playbackRate;
      attached?.destroy();
      attached = null;
      const handle = await attach(element, media, source ?? undefined);
      if (gone) return handle.destroy();
      attached = handle;
      if (swap) {
        // Straight back to where the room is (else where this player would be), playing again
        // at once: the correction would take seconds to catch up a few hundred ms.
        element.addEventListener("loadedmetadata", () => {
          const room = stateRef.current;
          const clock = channelRef.current?.clock;
          element.currentTime = room && clock && room.mediaId === media.id
            ? roomPosition(room, clientNow(), clock.offset)
            : at + ((performance.now() - since) / 1000) * rate;
          if (room?.playing) element.play().catch(() => {});
        }, { once: true });
      }
      if (source?.refreshAt) schedule(source.refreshAt, 1);
      if (!swap && source?.subtitles.length) loadTracks(source.subtitles);
    };
    /** @param {number} serverAt @param {number} least seconds */
    const schedule = (serverAt, least) => {
      const serverNow = clientNow() + (channelRef.current?.clock.offset ?? 0);
      const wait = Math.max(least, serverAt - serverNow);
      timer = window.setTimeout(() => load(true).catch(fail), wait * 1000);
    };
    /** @param {Subtitle[]} subtitles */
    const loadTracks = async (subtitles) => {
      const loaded = await Promise.all(subtitles.map((s) => trackUrl(s).then(
        (src) => ({ label: s.name, src }),
        () => null,
      )));
      const ok = /** @type {Track[]} */ (loaded.filter(Boolean));
      blobs = ok.map((t) => t.src);
      if (gone) return blobs.forEach((b) => URL.revokeObjectURL(b));
      setTracks(ok);
      setShown(ok.length ? 0 : -1);
      if (ok.length < subtitles.length) setFailure("some subtitles could not be loaded");
    };
    const fail = (/** @type {any} */ error) => setFailure(String(error?.message ?? error));
    load(false).catch(fail);
    return () => {
      gone = true;
      window.clearTimeout(timer);
      attached?.destroy();
      blobs.forEach((b) => URL.revokeObjectURL(b));
    };
  }, [media?.id, roomId]);

  // The chosen text track showing, the others off (tracks added later are not shown by default).
  useEffect(() => {
    const element = video.current;
    if (!element) return;
    const list = element.textTracks;
    for (let i = 0; i < list.length; i++) list[i].mode = i === shown ? "showing" : "disabled";
  }, [tracks, shown]);

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
      >${tracks.map((t, i) => html`<track key=${t.src} kind="subtitles" label=${t.label} src=${t.src} srclang="und" default=${i === shown} />`)}</video>
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
        ${tracks.length > 0 && html`<label>Subtitles
          <select value=${String(shown)} onChange=${(/** @type {Event} */ e) => setShown(Number(/** @type {HTMLSelectElement} */ (e.target).value))}>
            <option value="-1">Off</option>
            ${tracks.map((t, i) => html`<option value=${String(i)}>${t.label}</option>`)}
          </select></label>`}
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
