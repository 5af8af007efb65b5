// The REST API: the signed-in session (tokens in localStorage), JSON calls with the bearer token,
// one transparent refresh when the access token has expired, and errors as ApiError with the
// server's stable code (docs/errors.md).

/**
 * @typedef {{id: string, username: string, displayName: string, role: string, status: string}} User
 * @typedef {{accessToken: string, refreshToken: string, user: User}} Session
 * @typedef {{token: string, guestId: string, roomId: string}} GuestPass
 */

const SESSION_KEY = "synctv.session";
const GUEST_KEY = "synctv.guest.";

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

/** @type {Set<(session: Session | null) => void>} */
const listeners = new Set();

/** @returns {Session | null} */
export function currentSession() {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    return raw ? /** @type {Session} */ (JSON.parse(raw)) : null;
  } catch {
    return null;
  }
}

/** @param {Session | null} session */
export function setSession(session) {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
  for (const listener of listeners) listener(session);
}

/** @param {(session: Session | null) => void} listener @returns {() => void} */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A guest's token for one room (kept for this tab only). @param {string} roomId */
export function guestPass(roomId) {
  const raw = sessionStorage.getItem(GUEST_KEY + roomId);
  return raw ? /** @type {GuestPass} */ (JSON.parse(raw)) : null;
}

/** @param {string} roomId */
export async function enterAsGuest(roomId) {
  const body = await call("POST", "/api/auth/guest-token", { roomId }, { token: null });
  /** @type {GuestPass} */
  const pass = { token: body.token, guestId: body.guestId, roomId };
  sessionStorage.setItem(GUEST_KEY + roomId, JSON.stringify(pass));
  return pass;
}

/**
 * The token to call with: the session's, else a guest pass for ``roomId``.
 * @param {string} [roomId]
 */
export function tokenFor(roomId) {
  const session = currentSession();
  if (session) return session.accessToken;
  return roomId ? guestPass(roomId)?.token ?? null : null;
}

/** @type {Promise<boolean> | null} */
let refreshing = null;

/** Trade the refresh token for new tokens once (concurrent callers share it). */
async function refresh() {
  const session = currentSession();
  if (!session) return false;
  refreshing ??= (async () => {
    try {
      const tokens = await call("POST", "/api/auth/refresh", {
        refreshToken: session.refreshToken,
      }, { token: null, retry: false });
      setSession({ ...session, ...tokens });
      return true;
    } catch {
      setSession(null);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/**
 * One JSON call. ``options.token``: the bearer token (default: the session's or the room's
 * guest pass; null: none).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{token?: string | null, roomId?: string, retry?: boolean}} [options]
 * @returns {Promise<any>}
 */
export async function call(method, path, body, options = {}) {
  const token = options.token === undefined ? tokenFor(options.roomId) : options.token;
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (response.ok) return data;
  const code = typeof data.code === "string" ? data.code : "internal_error";
  const sessionToken = currentSession()?.accessToken;
  if (response.status === 401 && code === "token_expired" && options.retry !== false
      && token && token === sessionToken && (await refresh())) {
    return call(method, path, body, { ...options, token: undefined, retry: false });
  }
  // Signed out elsewhere (another device revoked this session): forget it here too.
  if (response.status === 401 && code === "token_revoked" && token && token === sessionToken) setSession(null);
  throw new ApiError(response.status, code, data.message ?? response.statusText, data.details);
}

/** A person-readable sentence for an error. @param {unknown} error */
export function explain(error) {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
