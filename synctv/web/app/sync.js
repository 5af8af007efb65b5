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
