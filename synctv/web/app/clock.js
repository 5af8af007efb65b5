// The clock estimate of docs/realtime.md (a port of synctv/realtime/sync.py, same parameters):
// of the last 8 exchanges, the offset of the one with the smallest round trip; re-measured
// every 30 s. Times are Unix seconds on this machine's clock.

export const CLOCK_WINDOW = 8;
export const CLOCK_REFRESH_SECONDS = 30;

/** This machine's clock, Unix seconds (monotonic within the page). */
export function clientNow() {
  return (performance.timeOrigin + performance.now()) / 1000;
}

/** @typedef {{offset: number, roundTrip: number}} ClockSample */

export class ClockEstimate {
  constructor() {
    /** @type {ClockSample[]} */
    this.samples = [];
    /** @type {number | null} */
    this.lastAt = null;
  }

  /**
   * One exchange: sent at t0 (client), received at t1 and answered at t2 (server), back at t3.
   * @param {number} t0 @param {number} t1 @param {number} t2 @param {number} t3
   */
  add(t0, t1, t2, t3) {
    if (t3 < t0 || t2 < t1) return; // a clock stepped backwards mid-exchange
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    const roundTrip = Math.max(0, (t3 - t0) - (t2 - t1));
    this.samples.push({ offset, roundTrip });
    if (this.samples.length > CLOCK_WINDOW) this.samples.shift();
    this.lastAt = t3;
  }

  /** @returns {ClockSample | null} */
  get best() {
    let best = null;
    for (const sample of this.samples) {
      if (best === null || sample.roundTrip < best.roundTrip) best = sample;
    }
    return best;
  }

  /** Server minus client, seconds (0 until measured). */
  get offset() {
    return this.best?.offset ?? 0;
  }

  /** The offset is right to within this, seconds (half the kept sample's round trip). */
  get errorBound() {
    const best = this.best;
    return best === null ? null : best.roundTrip / 2;
  }

  /** @param {number} now client clock */
  due(now) {
    return this.lastAt === null || now - this.lastAt >= CLOCK_REFRESH_SECONDS;
  }
}
