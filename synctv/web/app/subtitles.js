// Subtitles as the player's text tracks: WebVTT as served, SRT converted here (timestamps'
// decimal comma to a point, the WEBVTT header), each handed to <track> as a blob: URL.

/** SRT text as WebVTT. @param {string} srt */
export function srtToVtt(srt) {
  const body = srt.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").trim()
    .replace(/(\d{1,2}:\d{2}:\d{2}),(\d{3})/g, "$1.$2")
    .split(/\n{2,}/)
    .map((cue) => cue.replace(/^\d+\n(?=[^\n]*-->)/, ""))
    .join("\n\n");
  return `WEBVTT\n\n${body}\n`;
}

/** Whether a subtitle is SRT (its declared format, else its URL). @param {{url: string, format: string | null}} sub */
export function isSrt(sub) {
  if (sub.format) return sub.format === "srt";
  return sub.url.split(/[?#]/)[0].toLowerCase().endsWith(".srt");
}

/**
 * A subtitle as a URL a <track> can load: fetched, SRT converted, as a blob: URL (the caller
 * revokes it). WebVTT is fetched too: a <track> from another origin needs CORS either way, and
 * a blob is same-origin.
 * @param {{url: string, format: string | null}} sub @returns {Promise<string>}
 */
export async function trackUrl(sub) {
  const response = await fetch(sub.url);
  if (!response.ok) throw new Error(`subtitles: ${response.status}`);
  const text = await response.text();
  const vtt = isSrt(sub) || !text.trimStart().startsWith("WEBVTT") ? srtToVtt(text) : text;
  return URL.createObjectURL(new Blob([vtt], { type: "text/vtt" }));
}
