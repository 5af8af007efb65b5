// The player: picks the way to play a source (<video> for MP4/WebM, hls.js for HLS unless the
// browser plays it natively, mpegts.js for HTTP-FLV: each library loaded only when needed), and
// keeps it in step with the room: every 250 ms the correction of sync.js, every 2 s a report.
// Where to fetch the media is the viewer's own (GET …/playback: direct or through /proxy, with
// subtitles): refetched at its refreshAt and swapped in at the current position.
// A live stream of this server plays over HTTP-FLV (mpegts.js) or HLS (hls.js: the viewer's
// choice, HLS where the browser has no Media Source Extensions) and keeps in step with the
// room's other viewers by its latency (docs/realtime.md, "Live in step"): every 250 ms the
// correction of sync.js's correctLive, against the room's latest liveClock.
//
// For tests and debugging, while a live item plays ``window.synctvLive.sample()`` answers this
// page's live figures, computed at the call: {protocol, mediaTime (of the frame shown, the
// stream's seconds), latency (seconds after its ingest), newest (the latency of the newest frame
// held), target (the room's target latency), drift (shown frame − the room's, seconds), safe
// (the latency this player reports), rate, waiting}; null until the page knows where it is.
import { call } from "./api.js";
import { html, useEffect, useRef, useState } from "./lib.js";
import { clientNow } from "./clock.js";
import { trackUrl } from "./subtitles.js";
import { LatencyMeter, correct, correctLive, liveFloor, liveLatency, liveTarget, roomPosition } from "./sync.js";

const CORRECT_EVERY_MS = 250;
const REPORT_EVERY_MS = 2000;

/**
 * @typedef {import("./sync.js").PlaybackState} PlaybackState
 * @typedef {import("./channel.js").RoomChannel} RoomChannel
 * @typedef {{id: string, name: string, kind: string, source: Record<string, any>, addedBy?: string}} Media
 * @typedef {{protocol: "flv" | "hls", base: () => number | null, segmentSeconds: () => number}} LiveTimeline
 *   a live player's clock: media time (the stream's own seconds) = video time + base()
 * @typedef {{destroy: () => void, live?: LiveTimeline}} Attached
 * @typedef {import("./sync.js").LiveClock} LiveClock
 * @typedef {{name: string, url: string, format: string | null}} Subtitle
 * @typedef {{url: string, headers: Record<string, string>, subtitles: Subtitle[], refreshAt: number | null,
 *   via: string, hlsUrl?: string}} Source  where the player fetches the media, for this viewer
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
  if (playback.kind === "live" && playback.flvUrl) {
    return { ...fallback, url: playback.flvUrl, hlsUrl: playback.hlsUrl, refreshAt: playback.expiresAt };
  }
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

/** Whether this browser has Media Source Extensions (hls.js and mpegts.js need them). */
export function hasMse() {
  return typeof window !== "undefined" && "MediaSource" in window;
}

/** MPEG-TS timestamps wrap at 2^33 ticks of 90 kHz. */
const PTS_WRAP_SECONDS = 2 ** 33 / 90000;
/** Over HLS the frame at media time m has the MPEG-TS timestamp (m + 1.4) × 90000 (realtime.md). */
const HLS_TIMESTAMP_OFFSET_SECONDS = 1.4;

/**
 * The mpegts.js remuxer's timestamp base (the FLV time of the first frame it gave the <video>,
 * which plays it at 0), seconds; null until known. mpegts.js has no public API for it: read
 * from its transmuxer (main-thread transmuxing, mpegts.js 1.8's layout).
 * @param {any} player
 */
function mpegtsBase(player) {
  const engine = player?._player_engine ?? player;
  const remuxer = engine?._transmuxer?._controller?._remuxer;
  if (!remuxer?._dtsBaseInited || !Number.isFinite(remuxer._dtsBase)) return null;
  return remuxer._dtsBase / 1000;
}

/**
 * Attach ``media`` to ``video`` from ``source`` (its URL and the headers to send, which a
 * <video> cannot: hls.js and mpegts.js do); the returned handle undoes it. A live stream plays
 * ``via`` HTTP-FLV or HLS; its handle's ``live`` maps the video's time to the stream's.
 * @param {HTMLVideoElement} video @param {Media} media @param {Source} [source]
 * @param {"flv" | "hls"} [via] @returns {Promise<Attached>}
 */
export async function attach(video, media, source, via = "flv") {
  const live = media.kind === "live" || media.source.kind === "live";
  let url = source?.url ?? mediaUrl(media);
  const headers = Object.entries(source?.headers ?? {});
  let kind = playbackKind(media);
  if (live && via === "hls") {
    kind = "hls";
    url = source?.hlsUrl ?? `/live/${encodeURIComponent(media.source.streamId)}/index.m3u8`;
  }
  if (kind === "hls" && (live ? hasMse() : !video.canPlayType("application/vnd.apple.mpegurl"))) {
    const { default: Hls } = await import("../vendor/hls.js/hls.min.mjs");
    const hls = new Hls({
      enableWorker: true,
      // The room steers a live stream (correctLive): hls.js starts 3 segments from the edge
      // and neither seeks to the edge nor changes the rate by itself.
      liveSyncDurationCount: 3,
      liveMaxLatencyDurationCount: Infinity,
      maxLiveSyncPlaybackRate: 1,
      xhrSetup: (/** @type {XMLHttpRequest} */ xhr) => headers.forEach(([k, v]) => xhr.setRequestHeader(k, v)),
    });
    /** @type {number | null} */
    let initPts = null; // seconds: the MPEG-TS time the video plays at 0
    let segment = 0;
    hls.on(Hls.Events.INIT_PTS_FOUND, (_name, data) => {
      initPts = data.initPTS / data.timescale;
    });
    hls.on(Hls.Events.LEVEL_UPDATED, (_name, data) => {
      segment = data.details.targetduration;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    return {
      destroy: () => hls.destroy(),
      live: live
        ? {
          protocol: "hls",
          base: () => (initPts === null ? null : initPts - HLS_TIMESTAMP_OFFSET_SECONDS),
          segmentSeconds: () => segment,
        }
        : undefined,
    };
  }
  if (kind === "flv") {
    const mpegts = await loadMpegts();
    const config = live
      ? {
        // The room steers (correctLive): no latency chasing of mpegts.js's own, no stash
        // buffer holding frames back, the transmuxer on this thread (mpegtsBase reads it).
        enableWorker: false,
        enableStashBuffer: false,
        liveBufferLatencyChasing: false,
        liveSync: false,
        lazyLoad: false,
        autoCleanupSourceBuffer: true,
      }
      : {};
    const player = mpegts.createPlayer({ type: "flv", isLive: live, url },
      headers.length ? { ...config, headers: Object.fromEntries(headers) } : config);
    player.attachMediaElement(video);
    player.load();
    return {
      destroy: () => player.destroy(),
      live: live ? { protocol: "flv", base: () => mpegtsBase(player), segmentSeconds: () => 0 } : undefined,
    };
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
 * HLS media time from a timeline base taken modulo the MPEG-TS wrap: the one nearest the
 * room's live clock. @param {number} base @param {LiveClock} clock @param {number} at video time
 */
function unwrapped(base, clock, at) {
  const turns = Math.round((clock.mediaTime - (at + base)) / PTS_WRAP_SECONDS);
  return base + turns * PTS_WRAP_SECONDS;
}

/** The buffered range holding ``at`` (else the last one): [from, until], or nulls.
 * @param {HTMLVideoElement} element @param {number} at */
function heldAround(element, at) {
  const ranges = element.buffered;
  for (let i = 0; i < ranges.length; i++) {
    if (ranges.start(i) - 0.1 <= at && at <= ranges.end(i) + 0.1) return [ranges.start(i), ranges.end(i)];
  }
  return ranges.length ? [ranges.start(ranges.length - 1), ranges.end(ranges.length - 1)] : [null, null];
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
  const [behind, setBehind] = useState(/** @type {number | null} */ (null)); // live latency shown
  const channelRef = useRef(channel);
  channelRef.current = channel;
  const flags = useRef({ seeking: false, buffering: false });
  flags.current = { seeking, buffering };
  // A live stream: over HTTP-FLV or HLS (the viewer's choice), the attached player's timeline.
  const [liveVia, setLiveVia] = useState(/** @type {"flv" | "hls"} */ (hasMse() ? "flv" : "hls"));
  const timeline = useRef(/** @type {LiveTimeline | null} */ (null));

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
      } catch {
        if (swap) return schedule(Date.now() / 1000 + 5, 5); // the old link may still work: try again soon
        // source stays null: the source's own URL, as a last resort
      }
      if (gone) return;
      // Where the player is, and where it will be when the new source has loaded.
      const at = element.currentTime;
      const since = performance.now();
      const rate = element.paused ? 0 : element.playbackRate;
      attached?.destroy();
      attached = null;
      timeline.current = null;
      const handle = await attach(element, media, source ?? undefined, liveVia);
      if (gone) return handle.destroy();
      attached = handle;
      timeline.current = handle.live ?? null;
      if (swap && !handle.live) {
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
      timeline.current = null;
      blobs.forEach((b) => URL.revokeObjectURL(b));
    };
  }, [media?.id, roomId, liveVia]);

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
    /** The room's latest liveClock for this media. @type {LiveClock | null} */
    let clock = null;
    const meter = new LatencyMeter();
    // Paused on purpose: the room's target is older than anything this player still holds.
    let waiting = false;
    const unlisten = channel.listen({
      message: (message) => {
        if (message.liveClock?.mediaId === media.id) clock = message.liveClock;
      },
    });
    const play = () => {
      element.play().catch((error) => {
        if (error?.name === "NotAllowedError" && !element.muted) {
          element.muted = true; // autoplay with sound needs a gesture: start muted
          setMuted(true);
        }
      });
    };
    /** Where this live player is against the room now, or null (no clock or timeline yet). */
    const liveNow = () => {
      const line = timeline.current;
      const raw = line?.base() ?? null;
      if (!line || raw === null || clock === null || element.readyState < 1) return null;
      const now = clientNow();
      const offset = channel.clock.offset;
      const base = line.protocol === "hls" ? unwrapped(raw, clock, element.currentTime) : raw;
      const [from, until] = heldAround(element, element.currentTime);
      const target = liveTarget(clock, now, offset) - base; // video time
      return {
        line, now, base, from, until, target,
        latency: liveLatency(clock, element.currentTime + base, now, offset),
        newest: until === null ? null : liveLatency(clock, until + base, now, offset),
      };
    };
    const stepLive = () => {
      const at = liveNow();
      if (at === null) {
        onDrift(null);
        if (element.paused && !waiting) play(); // fetch and show frames until the clock comes
        return;
      }
      meter.floor = liveFloor(at.line.protocol, at.line.segmentSeconds());
      if (at.newest !== null) meter.add(at.now, at.newest);
      const drift = element.currentTime - at.target;
      onDrift(drift);
      setPosition(element.currentTime);
      setBehind(Math.round(at.latency * 10) / 10);
      if (waiting) {
        if (at.target < element.currentTime - 0.04) return;
        waiting = false;
        play();
        return;
      }
      const correction = correctLive(element.currentTime, at.target, flags.current, at.from, at.until);
      if (correction.kind === "seek" && correction.seekTo !== null) element.currentTime = correction.seekTo;
      if (correction.wait) {
        waiting = true;
        element.pause();
        element.playbackRate = 1;
        return;
      }
      if (Math.abs(element.playbackRate - correction.rate) > 1e-3) element.playbackRate = correction.rate;
      if (element.paused) play();
    };
    const step = () => {
      const room = stateRef.current;
      if (!room || room.mediaId !== media.id || element.readyState < 1) {
        onDrift(null);
        return;
      }
      if (room.kind === "live" && !room.playing) {
        onDrift(null); // the room paused the stream: so does everyone, and steers back on play
        if (!element.paused) element.pause();
        return;
      }
      if (room.kind === "live") return stepLive();
      const target = roomPosition(room, clientNow(), channel.clock.offset);
      const correction = correct(element.currentTime, target, room.speed, room.playing, flags.current);
      onDrift(element.currentTime - target);
      setPosition(element.currentTime);
      if (correction.kind === "seek" && correction.seekTo !== null) element.currentTime = correction.seekTo;
      if (Math.abs(element.playbackRate - correction.rate) > 1e-3) element.playbackRate = correction.rate;
      if (room.playing && element.paused) {
        play();
      } else if (!room.playing && !element.paused) {
        element.pause();
      }
    };
    const report = () => {
      const room = stateRef.current;
      if (!room || room.mediaId !== media.id) return;
      if (room.kind === "live") {
        const at = liveNow();
        const live = {
          mediaId: media.id,
          position: at === null ? element.currentTime : element.currentTime + at.base,
          buffering: flags.current.buffering,
          drift: at === null ? 0 : element.currentTime - at.target,
          latency: meter.safe(clientNow()),
        };
        return channel.report(live);
      }
      const drift = element.currentTime - roomPosition(room, clientNow(), channel.clock.offset);
      channel.report({ mediaId: media.id, position: element.currentTime, buffering: flags.current.buffering, drift });
    };
    // window.synctvLive (documented at the top): this page's live figures, for tests.
    const debug = {
      sample: () => {
        const at = liveNow();
        if (at === null) return null;
        return {
          protocol: at.line.protocol,
          mediaTime: element.currentTime + at.base,
          latency: at.latency,
          newest: at.newest,
          target: clock?.targetLatency ?? null,
          drift: element.currentTime - at.target,
          safe: meter.safe(at.now),
          rate: element.playbackRate,
          waiting,
        };
      },
    };
    /** @type {any} */ (window).synctvLive = debug;
    const stepping = setInterval(step, CORRECT_EVERY_MS);
    const reporting = setInterval(report, REPORT_EVERY_MS);
    return () => {
      unlisten();
      clearInterval(stepping);
      clearInterval(reporting);
      const global = /** @type {any} */ (window);
      if (global.synctvLive === debug) delete global.synctvLive;
    };
  }, [media?.id, channel]);

  if (!media) {
    return html`<div class="player empty"><p>Nothing is playing. Add a URL to the playlist and press play.</p></div>`;
  }
  const duration = state?.duration || video.current?.duration || 0;
  const live = media.kind === "live" || media.source.kind === "live";
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
        ${live ? html`<span class="badge live" aria-label="Live latency">LIVE${behind === null ? "" : ` · ${behind.toFixed(1)} s behind`}</span>
        <label>Via
          <select value=${liveVia} onChange=${(/** @type {Event} */ e) => setLiveVia(/** @type {"flv" | "hls"} */ (/** @type {HTMLSelectElement} */ (e.target).value))}>
            ${hasMse() && html`<option value="flv">HTTP-FLV</option>`}
            <option value="hls">HLS</option>
          </select>
        </label>` : html`<input type="range" aria-label="Position" min="0" max=${Math.max(duration, 1)} step="0.1"
          value=${position} disabled=${!canControl}
          onPointerDown=${() => setSeeking(true)}
          onChange=${(/** @type {Event} */ e) => {
            setSeeking(false);
            send({ action: "seek", position: Number(/** @type {HTMLInputElement} */ (e.target).value) });
          }} />
        <span class="time">${clockText(position)} / ${clockText(duration)}</span>
        <label>Speed
          <select disabled=${!canControl} value=${String(state?.speed ?? 1)}
            onChange=${(/** @type {Event} */ e) => send({ action: "speed", speed: Number(/** @type {HTMLSelectElement} */ (e.target).value) })}>
            ${[0.5, 0.75, 1, 1.25, 1.5, 2].map((s) => html`<option value=${String(s)}>${s}×</option>`)}
          </select>
        </label>`}
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
