// Go live (manage_live_streams): create the room's stream, show OBS's Server and Stream Key
// once with copy buttons and a short guide, list and delete streams, and the codec
// diagnostics the server reads from the incoming stream and how many watch it
// (GET /api/rooms/{room}/live).
import { call, explain } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { CopyButton, RoomToolPage, ago } from "./roomtools.js";
import { Field } from "./forms.js";

const REFRESH_MS = 2000;
const CODECS = /** @type {Record<string, string>} */ ({ avc: "H.264", hevc: "HEVC (H.265)", av1: "AV1", vp9: "VP9", aac: "AAC", mp3: "MP3", opus: "Opus" });

/**
 * @typedef {{code: string, message: string}} StreamWarning
 * @typedef {{encoder: string, videoCodec: string, videoProfile: string, videoLevel: string,
 *   width: number | null, height: number | null, frameRate: number | null,
 *   bitrateKbps: number | null, announcedKbps: number | null, keyframeIntervalMs: number | null,
 *   audioCodec: string, warnings: StreamWarning[], viewers: Viewers}} Diagnostics
 * @typedef {{flv: number, hls: number, rtmp: number, total: number}} Viewers
 * @typedef {{streamId: string, title: string, live: boolean, createdAt: string, rtmpServer: string,
 *   flvUrl: string, hlsUrl: string, diagnostics: Diagnostics | null}} LiveStream
 * @typedef {LiveStream & {streamKey: string}} CreatedStream
 */

/** @param {{roomId: string}} props */
export function GoLivePage({ roomId }) {
  return html`<${RoomToolPage} roomId=${roomId} title="Go live" permission="manage_live_streams"
    render=${() => html`<${GoLive} roomId=${roomId} />`} />`;
}

/** @param {{roomId: string}} props */
function GoLive({ roomId }) {
  const [streams, setStreams] = useState(/** @type {LiveStream[]} */ ([]));
  const [created, setCreated] = useState(/** @type {CreatedStream | null} */ (null));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const load = () =>
    call("GET", `/api/rooms/${roomId}/live`, undefined, { roomId }).then((r) => setStreams(r.streams), (e) => setError(explain(e)));
  useEffect(() => {
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [roomId]);

  /** @param {SubmitEvent} event */
  const create = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    setBusy(true);
    try {
      setCreated(await call("POST", `/api/rooms/${roomId}/live`, { title: String(form.get("streamTitle") ?? "").trim() }, { roomId }));
      setError("");
      await load();
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  /** @param {LiveStream} stream */
  const remove = async (stream) => {
    try {
      await call("DELETE", `/api/rooms/${roomId}/live/${stream.streamId}`, undefined, { roomId });
      if (created?.streamId === stream.streamId) setCreated(null);
      await load();
    } catch (e) {
      setError(explain(e));
    }
  };

  return html`
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${created ? html`<${ObsCard} stream=${created} done=${() => setCreated(null)} />` : html`
      <section class="card">
        <h2>Start a stream</h2>
        <p class="aside">The stream joins the room's playlist; play it there when you are live.</p>
        <form onSubmit=${create} class="inline">
          <${Field} label="Stream title (optional)" name="streamTitle" maxlength="200" placeholder="Live" />
          <button type="submit" disabled=${busy}>Create stream</button>
        </form>
      </section>`}
    <section class="card" aria-label="Streams">
      <h2>This room's streams</h2>
      ${streams.length ? html`<ul class="stream-list">${streams.map((s) => html`<li key=${s.streamId}>
          <div class="stream-row">
            <span class="name">${s.title || "Live"}</span>
            <span class=${`live-badge ${s.live ? "on" : ""}`}>${s.live ? "live" : "offline"}</span>
            ${s.live && s.diagnostics && html`<${Watching} viewers=${s.diagnostics.viewers} />`}
            <span class="meta">created ${ago(s.createdAt)}</span>
            <button type="button" class="small danger" onClick=${() => remove(s)} aria-label=${`Delete stream ${s.title || "Live"}`}>Delete</button>
          </div>
          ${s.live && s.diagnostics && html`<${DiagnosticsPanel} diagnostics=${s.diagnostics} />`}
          ${s.live && !s.diagnostics && html`<p class="aside">Receiving…</p>`}
          ${!s.live && html`<p class="aside">Nobody is publishing. OBS server: <code>${s.rtmpServer}</code></p>`}
        </li>`)}</ul>` : html`<p class="aside">No stream yet.</p>`}
    </section>`;
}

/** "N watching", with the split by protocol in the tooltip. @param {{viewers: Viewers}} props */
function Watching({ viewers: v }) {
  const split = `HTTP-FLV ${v.flv} · HLS ${v.hls} · RTMP ${v.rtmp}`;
  return html`<span class="watching" title=${split}>${v.total} watching</span>`;
}

/** Server and key (the key is shown this once), with copy buttons and the OBS steps. @param {{stream: CreatedStream, done: () => void}} props */
function ObsCard({ stream, done }) {
  return html`<section class="card obs" aria-label="OBS settings">
    <h2>Stream "${stream.title || "Live"}" is ready</h2>
    <p class="notice">The stream key is shown only now: copy it into OBS before you leave this page.</p>
    <dl class="obs-fields">
      <dt id="obs-server">Server</dt>
      <dd><code aria-labelledby="obs-server">${stream.rtmpServer}</code> <${CopyButton} text=${stream.rtmpServer} label="Copy server" /></dd>
      <dt id="obs-key">Stream Key</dt>
      <dd><code aria-labelledby="obs-key" class="secret">${stream.streamKey}</code> <${CopyButton} text=${stream.streamKey} label="Copy stream key" /></dd>
    </dl>
    <details open>
      <summary>In OBS</summary>
      <ol class="guide">
        <li><b>Settings → Stream</b>: Service <b>Custom…</b>; paste the Server and the Stream Key above.</li>
        <li><b>Settings → Output</b> (Output Mode <b>Advanced</b>, Streaming tab): Encoder <b>x264</b> (or NVENC <b>H.264</b>, never HEVC/AV1), Rate Control <b>CBR</b>, Bitrate <b>2500–6000 Kbps</b>, Keyframe Interval <b>2 s</b>.</li>
        <li>Audio: <b>AAC</b> (OBS's default), 160 Kbps.</li>
        <li><b>Start Streaming</b>, then play the stream from the room's playlist. The checks below turn up within a few seconds.</li>
      </ol>
    </details>
    <button type="button" onClick=${done}>Done</button>
  </section>`;
}

/** What the server sees of the incoming stream, and what to fix. @param {{diagnostics: Diagnostics}} props */
export function DiagnosticsPanel({ diagnostics: d }) {
  const codec = (/** @type {string} */ c) => (c ? CODECS[c] ?? c : "");
  const video = d.videoCodec ? [codec(d.videoCodec), d.videoProfile, d.videoLevel && `level ${d.videoLevel}`].filter(Boolean).join(" ") : "none yet";
  const rows = [
    ["Video", video],
    ["Resolution", d.width && d.height ? `${d.width}×${d.height}` : "unknown"],
    ["Frame rate", d.frameRate ? `${Math.round(d.frameRate * 100) / 100} fps` : "unknown"],
    ["Bitrate", d.bitrateKbps !== null ? `${Math.round(d.bitrateKbps)} kbps` : d.announcedKbps !== null ? `${Math.round(d.announcedKbps)} kbps (announced)` : "measuring…"],
    ["Keyframe interval", d.keyframeIntervalMs !== null ? `${(d.keyframeIntervalMs / 1000).toFixed(1)} s` : "measuring…"],
    ["Audio", d.audioCodec ? codec(d.audioCodec) : "none"],
    ["Encoder", d.encoder || "not announced"],
  ];
  return html`<div class="diagnostics" aria-label="Stream diagnostics">
    <dl>${rows.map(([name, value]) => html`<div key=${name}><dt>${name}</dt><dd>${value}</dd></div>`)}</dl>
    ${d.warnings.length
      ? html`<ul class="warnings" role="alert">${d.warnings.map((w) => html`<li key=${w.code} data-code=${w.code}>${w.message}</li>`)}</ul>`
      : html`<p class="ok-line">Browsers can play this stream as it is.</p>`}
  </div>`;
}
