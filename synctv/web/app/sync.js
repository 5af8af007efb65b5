// The drift correction of docs/realtime.md (a port of synctv/realtime/sync.py, same table and
// parameters). Pure: the player module feeds it positions and applies what it returns.

export const DEADBAND_SECONDS = 0.040;
export const SEEK_THRESHOLD_SECONDS = 2.0;
export const MAX_RATE_CHANGE = 0.05;
export const CATCH_UP_SECONDS = 2.0;
export const PAUSED_TOLERANCE_SECONDS = 0.100;

/**
 * The room's playback anchor (a `playbackState` / `playback_changed` payload).
 * @typedef {{mediaId: string, kind: string, position: number, speed: number, playing: boolean,
 *   version: string, duration: number, serverTime: number}} PlaybackState
 * @typedef {{kind: "none" | "rate" | "seek", rate: number, seekTo: number | null}} Correction
 */

/**
 * Where the room is at client time ``clientNow`` given the clock ``offset`` (server − client).
 * @param {PlaybackState} state @param {number} clientNow @param {number} offset
 */
export function roomPosition(state, clientNow, offset) {
  if (!state.playing) return state.position;
  const position = state.position + Math.max(0, clientNow + offset - state.serverTime) * state.speed;
  return state.duration > 0 ? Math.min(position, state.duration) : position;
}

/**
 * What the player should do now; ``rate`` is the absolute playback rate to set.
 * @param {number} player @param {number} room @param {number} speed @param {boolean} playing
 * @param {{seeking?: boolean, buffering?: boolean}} [flags]
 * @returns {Correction}
 */
export function correct(player, room, speed, playing, flags = {}) {
  if (flags.seeking || flags.buffering) return { kind: "none", rate: speed, seekTo: null };
  const drift = player - room;
  if (!playing) {
    if (Math.abs(drift) <= PAUSED_TOLERANCE_SECONDS) return { kind: "none", rate: speed, seekTo: null };
    return { kind: "seek", rate: speed, seekTo: room };
  }
  if (Math.abs(drift) >= SEEK_THRESHOLD_SECONDS) return { kind: "seek", rate: speed, seekTo: room };
  if (Math.abs(drift) < DEADBAND_SECONDS) return { kind: "none", rate: speed, seekTo: null };
  const change = Math.max(-MAX_RATE_CHANGE, Math.min(MAX_RATE_CHANGE, drift / CATCH_UP_SECONDS));
  return { kind: "rate", rate: speed * (1 - change), seekTo: null };
}

// Live in step (docs/realtime.md, "Live in step"; a port of LiveMapping, LatencyMeter and
// correct_live of synctv/realtime/sync.py, same parameters).
export const LIVE_FLOOR_SECONDS = 1.0;
export const HLS_FLOOR_SEGMENTS = 3;
export const LATENCY_WINDOW_SECONDS = 10.0;
export const LATENCY_MARGIN_SECONDS = 0.25;
export const MAX_TARGET_LATENCY_SECONDS = 60.0;

/**
 * A ``liveClock`` message: the frame at ``mediaTime`` (the stream's own seconds) arrived at
 * ingest at ``serverTime`` (server clock); the room plays ``targetLatency`` behind that.
 * @typedef {{streamId: string, mediaId: string, mediaTime: number, serverTime: number, targetLatency: number}} LiveClock
 */

/**
 * How late the frame at ``mediaTime`` is, seen at ``clientNow`` (seconds after its ingest).
 * @param {LiveClock} clock @param {number} mediaTime @param {number} clientNow @param {number} offset
 */
export function liveLatency(clock, mediaTime, clientNow, offset) {
  return clientNow + offset - (clock.serverTime + (mediaTime - clock.mediaTime));
}

/**
 * The frame (media time) every player of the room shows at ``clientNow``: the one that arrived
 * the room's target latency ago.
 * @param {LiveClock} clock @param {number} clientNow @param {number} offset
 */
export function liveTarget(clock, clientNow, offset) {
  return clock.mediaTime + (clientNow + offset - clock.serverTime) - clock.targetLatency;
}

/**
 * The smallest latency a player of ``protocol`` aims at: 1 s for HTTP-FLV, 3 segment durations
 * for HLS. @param {"flv" | "hls"} protocol @param {number} [segmentSeconds]
 */
export function liveFloor(protocol, segmentSeconds = 0) {
  if (protocol === "hls") return Math.max(LIVE_FLOOR_SECONDS, HLS_FLOOR_SEGMENTS * segmentSeconds);
  return LIVE_FLOOR_SECONDS;
}

/**
 * A player's safe latency: the worst latency of the newest frame it held over the last
 * LATENCY_WINDOW_SECONDS, plus a margin, at least its protocol's floor.
 */
export class LatencyMeter {
  /** @param {number} floor */
  constructor(floor = LIVE_FLOOR_SECONDS) {
    this.floor = floor;
    /** (at, latency), latency decreasing: the window's worst first. @type {[number, number][]} */
    this.samples = [];
  }

  /** @param {number} now any clock, seconds @param {number} latency */
  add(now, latency) {
    if (!Number.isFinite(latency)) return;
    while (this.samples.length && this.samples[this.samples.length - 1][1] <= latency) this.samples.pop();
    this.samples.push([now, latency]);
    this.expire(now);
  }

  /** @param {number} now */
  expire(now) {
    while (this.samples.length && this.samples[0][0] < now - LATENCY_WINDOW_SECONDS) this.samples.shift();
  }

  /** The latency to report (0: not measured yet). @param {number} now */
  safe(now) {
    this.expire(now);
    if (!this.samples.length) return 0;
    return Math.min(MAX_TARGET_LATENCY_SECONDS, Math.max(this.floor, this.samples[0][1] + LATENCY_MARGIN_SECONDS));
  }
}

/**
 * ``correct`` for a live stream: the room's position is ``target`` (media time, speed 1, never
 * paused); a seek lands within what the player holds (``bufferedFrom``..``bufferedUntil``, the
 * same clock). ``wait`` (a seek to the oldest frame held, then pause until the target reaches
 * it): the target is older than anything the player still holds.
 * @param {number} player @param {number} target
 * @param {{seeking?: boolean, buffering?: boolean}} flags
 * @param {number | null} bufferedFrom @param {number | null} bufferedUntil
 * @returns {Correction & {wait: boolean}}
 */
export function correctLive(player, target, flags, bufferedFrom, bufferedUntil) {
  const correction = correct(player, target, 1, true, flags);
  if (correction.kind !== "seek" || correction.seekTo === null) return { ...correction, wait: false };
  if (bufferedFrom !== null && correction.seekTo < bufferedFrom) {
    return { kind: "seek", rate: 1, seekTo: bufferedFrom, wait: true };
  }
  if (bufferedUntil !== null && correction.seekTo > bufferedUntil) {
    return { kind: "seek", rate: 1, seekTo: bufferedUntil, wait: false };
  }
  return { ...correction, wait: false };
}
