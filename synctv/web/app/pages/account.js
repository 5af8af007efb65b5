// The account: its login sessions (GET /api/user/sessions), signing out other devices
// (DELETE /api/user/sessions/{id}) and this one; and sign-in with the configured OpenID
// providers (GET /api/auth/oidc/providers; the provider returns to the sign-in page with
// #oidcCode=..., traded for tokens at POST /api/auth/oidc/exchange).
import { call, currentSession, explain, setSession } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { navigate } from "../router.js";
import { ago } from "./roomtools.js";

/**
 * @typedef {{id: string, createdAt: string, lastUsedAt: string, clientAddress: string | null,
 *   userAgent: string, current: boolean}} LoginSession
 * @typedef {{name: string, displayName: string}} Provider
 */

/** Sign out here: the server revokes this session, the page forgets it. */
export async function signOut() {
  // The request takes this session's token now; the page forgets the session at once, so no
  // other request of this page goes out with a token the server is about to revoke (a 401).
  const leaving = call("POST", "/api/user/logout");
  setSession(null);
  navigate("/signin");
  try {
    await leaving;
  } catch {
    // signed out here whatever the server says
  }
}

/** A user agent as a person names it: "Chrome on Linux". @param {string} agent */
export function deviceName(agent) {
  if (!agent) return "Unknown device";
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox"
    : /Chrom(e|ium)\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : agent.split(/[ /]/)[0];
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS"
    : /Windows/.test(agent) ? "Windows" : /Mac OS X/.test(agent) ? "macOS" : /Linux/.test(agent) ? "Linux" : "";
  return system ? `${browser} on ${system}` : browser;
}

export function AccountPage() {
  const session = currentSession();
  const [sessions, setSessions] = useState(/** @type {LoginSession[]} */ ([]));
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");
  const load = () => call("GET", "/api/user/sessions").then((r) => setSessions(r.sessions), (e) => setError(explain(e)));
  useEffect(() => {
    load();
  }, []);
  if (!session) return null; // the router sends a signed-out visitor to sign in first
  /** @param {LoginSession[]} which */
  const revoke = async (which) => {
    try {
      for (const s of which) await call("DELETE", `/api/user/sessions/${s.id}`);
      setStatus(which.length === 1 ? "That device is signed out." : `${which.length} devices are signed out.`);
      setError("");
    } catch (e) {
      setError(explain(e));
    }
    await load();
  };
  const others = sessions.filter((s) => !s.current);
  return html`<main class="tool-page">
    <header class="room-head"><h1>Account</h1><span class="meta">${session.user.username} · ${session.user.role}</span></header>
    <section class="card" aria-label="Sessions">
      <h2>Where you are signed in</h2>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${status && html`<p class="notice" role="status">${status}</p>`}
      <ul class="session-list">${sessions.map((s) => html`<li key=${s.id} class=${s.current ? "current" : ""}>
        <span class="name">${deviceName(s.userAgent)}${s.current ? html` <span class="live-badge on">this device</span>` : ""}</span>
        <span class="meta">${s.clientAddress ?? "unknown address"} · signed in ${ago(s.createdAt)} · active ${ago(s.lastUsedAt)}</span>
        ${s.current
          ? html`<button type="button" class="small secondary" onClick=${signOut}>Sign out here</button>`
          : html`<button type="button" class="small danger" onClick=${() => revoke([s])}
              aria-label=${`Sign out ${deviceName(s.userAgent)} (${ago(s.lastUsedAt)})`}>Sign out</button>`}
      </li>`)}</ul>
      ${others.length > 1 && html`<button type="button" class="danger" onClick=${() => revoke(others)}>Sign out all other devices</button>`}
    </section>
  </main>`;
}

/** Buttons for the configured OpenID providers, and the return from one. @param {{next: string}} props */
export function OidcButtons({ next }) {
  const [providers, setProviders] = useState(/** @type {Provider[]} */ ([]));
  const [error, setError] = useState("");
  useEffect(() => {
    const code = new URLSearchParams(location.hash.slice(1)).get("oidcCode");
    if (code) {
      history.replaceState(null, "", location.pathname + location.search); // used once
      call("POST", "/api/auth/oidc/exchange", { code }, { token: null }).then((done) => {
        setSession({ accessToken: done.accessToken, refreshToken: done.refreshToken, user: done.user });
        navigate(next || "/");
      }, (e) => setError(explain(e)));
    }
    call("GET", "/api/auth/oidc/providers", undefined, { token: null }).then((r) => setProviders(r.providers), () => {});
  }, []);
  if (!providers.length && !error) return null;
  const returnTo = `/signin?next=${encodeURIComponent(next || "/")}`;
  return html`<div class="oidc">
    ${providers.length > 0 && html`<p class="aside or">or</p>`}
    ${providers.map((p) => html`<a key=${p.name} class="button oidc-button"
      href=${`/api/auth/oidc/${encodeURIComponent(p.name)}/authorize?returnTo=${encodeURIComponent(returnTo)}`}>
      Sign in with ${p.displayName}</a>`)}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}
