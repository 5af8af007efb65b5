// Users: search and filter the accounts; one account's details and what an administrator may
// do to it (role, ban with a reason, approve or reject a pending sign-up, sessions, password
// reset link, delete). The server enforces who may do what (only root makes admins): its
// refusals are shown as they come.
import { call, currentSession } from "../api.js";
import { html, useEffect, useRef, useState } from "../lib.js";
import { OutcomeLine, Select, formValue, useOutcome, when } from "./common.js";

/**
 * @typedef {{reason: string, bannedBy: string, bannedByName: string | null, bannedAt: string,
 *   until: string | null}} UserBan
 * @typedef {{id: string, username: string, displayName: string, role: string, status: string,
 *   createdAt: string, banned: boolean, ban?: UserBan | null}} AdminUser
 * @typedef {{id: string, createdAt: string, lastUsedAt: string, clientAddress: string | null,
 *   userAgent: string, current: boolean}} AdminSession
 */

const PAGE_SIZE = 20;
const ROLES = /** @type {Array<[string, string]>} */ ([["", "Any role"], ["root", "Root"], ["admin", "Admin"], ["user", "User"]]);
const STATUSES = /** @type {Array<[string, string]>} */ ([["", "Any status"], ["active", "Active"], ["pending_review", "Waiting for approval"]]);
const BANS = /** @type {Array<[string, string]>} */ ([["", "Banned or not"], ["true", "Banned"], ["false", "Not banned"]]);

/** @param {{user: AdminUser}} props */
function Badges({ user }) {
  return html`<span class="badges">
    <span class=${`tag role-${user.role}`}>${user.role}</span>
    ${user.status === "pending_review" && html`<span class="tag warn">pending</span>`}
    ${user.banned && html`<span class="tag bad">banned</span>`}
  </span>`;
}

export function UsersPanel() {
  const [filters, setFilters] = useState({ q: "", role: "", status: "", banned: "" });
  const [page, setPage] = useState(1);
  const [result, setResult] = useState(/** @type {{users: AdminUser[], total: number} | null} */ (null));
  const [selected, setSelected] = useState(/** @type {string | null} */ (null));
  const [reload, setReload] = useState(0);
  const { outcome, run } = useOutcome();

  useEffect(() => {
    const query = new URLSearchParams({ page: String(page), pageSize: String(PAGE_SIZE) });
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    run(() => call("GET", `/api/admin/users?${query}`)).then((r) => r && setResult(r));
  }, [filters, page, reload]);

  /** @param {SubmitEvent} event */
  function search(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    setPage(1);
    setFilters({
      q: formValue(form, "q").trim(),
      role: formValue(form, "role"),
      status: formValue(form, "status"),
      banned: formValue(form, "banned"),
    });
  }

  const pages = result ? Math.max(1, Math.ceil(result.total / PAGE_SIZE)) : 1;
  return html`<section class="card" aria-labelledby="users-heading">
      <h2 id="users-heading">Users</h2>
      <form class="inline admin-filters" role="search" onSubmit=${search}>
        <div class="field wide">
          <label for="users-q">Search users</label>
          <input id="users-q" name="q" type="search" placeholder="name or id" maxlength="128" />
        </div>
        <${Select} label="Role" id="users-role" name="role" value=${filters.role} options=${ROLES} />
        <${Select} label="Status" id="users-status" name="status" value=${filters.status} options=${STATUSES} />
        <${Select} label="Ban" id="users-banned" name="banned" value=${filters.banned} options=${BANS} />
        <button type="submit">Search</button>
      </form>
      <${OutcomeLine} outcome=${outcome} />
      ${result && html`
        <p class="meta">${result.total} account${result.total === 1 ? "" : "s"}</p>
        <ul class="admin-list" aria-label="Accounts">
          ${result.users.map((user) => html`<li key=${user.id} class=${selected === user.id ? "selected" : ""}>
            <button type="button" class="link-button name" aria-expanded=${selected === user.id}
              aria-label=${`Open ${user.username}`}
              onClick=${() => setSelected(selected === user.id ? null : user.id)}>${user.username}</button>
            <${Badges} user=${user} />
            <span class="meta hide-narrow">${when(user.createdAt)}</span>
          </li>`)}
        </ul>
        ${pages > 1 && html`<nav class="pager" aria-label="Pages of accounts">
          <button type="button" class="small" disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous</button>
          <span class="meta">page ${page} of ${pages}</span>
          <button type="button" class="small" disabled=${page >= pages} onClick=${() => setPage(page + 1)}>Next</button>
        </nav>`}`}
    </section>
    ${selected && html`<${UserDetail} key=${selected} userId=${selected}
      onChanged=${() => setReload((n) => n + 1)} onGone=${() => { setSelected(null); setReload((n) => n + 1); }} />`}`;
}

/** @param {{userId: string, onChanged: () => void, onGone: () => void}} props */
function UserDetail({ userId, onChanged, onGone }) {
  const [user, setUser] = useState(/** @type {AdminUser | null} */ (null));
  const [sessions, setSessions] = useState(/** @type {AdminSession[] | null} */ (null));
  const [reset, setReset] = useState(/** @type {{resetUrl: string, expiresInSecs: number} | null} */ (null));
  const [confirmDelete, setConfirmDelete] = useState(false);
  const { outcome, busy, run } = useOutcome();
  const path = `/api/admin/users/${encodeURIComponent(userId)}`;
  const me = currentSession()?.user;
  const heading = useRef(/** @type {HTMLHeadingElement | null} */ (null));

  useEffect(() => {
    run(() => call("GET", path)).then((u) => {
      if (!u) return;
      setUser(u);
      // Keyboard and screen-reader users land on what they opened.
      requestAnimationFrame(() => heading.current?.focus());
    });
  }, [userId]);

  /** @param {AdminUser | null | undefined} changed */
  function changed(changed) {
    if (changed) setUser(changed);
    onChanged();
  }

  /** @param {SubmitEvent} event */
  async function setRole(event) {
    event.preventDefault();
    const role = formValue(/** @type {HTMLFormElement} */ (event.currentTarget), "role");
    changed(await run(() => call("PUT", `${path}/role`, { role }), `Role set to ${role}; their sessions ended.`));
  }

  /** @param {SubmitEvent} event */
  async function ban(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const reason = formValue(form, "reason").trim();
    const until = formValue(form, "until");
    /** @type {{reason: string, until?: string}} */
    const body = { reason };
    if (until) body.until = new Date(until).toISOString();
    changed(await run(() => call("PUT", `${path}/ban`, body), "Banned; every session ended."));
  }

  async function showSessions() {
    const found = await run(() => call("GET", `${path}/sessions`));
    if (found) setSessions(found.sessions);
  }

  if (!user) {
    return html`<section class="card" aria-label="Account"><${OutcomeLine} outcome=${outcome} /></section>`;
  }
  const self = me?.id === user.id;
  return html`<section class="card user-detail" aria-labelledby="user-heading">
    <h2 id="user-heading" tabindex="-1" ref=${heading}>${user.username} <${Badges} user=${user} /></h2>
    <dl class="facts">
      <dt>Id</dt><dd><code>${user.id}</code></dd>
      <dt>Display name</dt><dd>${user.displayName || "—"}</dd>
      <dt>Signed up</dt><dd>${when(user.createdAt)}</dd>
      ${user.ban && html`<dt>Ban reason</dt><dd class="ban-reason">${user.ban.reason || "—"}</dd>
        <dt>Banned</dt><dd>${when(user.ban.bannedAt)} by ${user.ban.bannedByName ?? user.ban.bannedBy}</dd>
        <dt>Ban ends</dt><dd>${user.ban.until ? when(user.ban.until) : "when lifted"}</dd>`}
    </dl>
    <${OutcomeLine} outcome=${outcome} />
    <div class="admin-actions">
      <form class="inline" onSubmit=${setRole}>
        <${Select} label="Role" id="detail-role" name="role" value=${user.role}
          options=${[["user", "User"], ["admin", "Admin"], ["root", "Root"]]} />
        <button type="submit" disabled=${busy}>Change role</button>
      </form>
      ${user.status === "pending_review" && html`<div class="inline-buttons" role="group" aria-label="Sign-up review">
        <button type="button" disabled=${busy}
          onClick=${async () => changed(await run(() => call("POST", `${path}/approve`), "Approved: they can sign in."))}>Approve sign-up</button>
        <button type="button" class="danger" disabled=${busy}
          onClick=${async () => { if (await run(() => call("POST", `${path}/reject`), "Rejected.") !== undefined) onGone(); }}>Reject sign-up</button>
      </div>`}
      ${user.banned
        ? html`<div class="inline-buttons"><span>This account is banned: it cannot sign in.</span><button type="button" disabled=${busy}
            onClick=${async () => changed(await run(() => call("DELETE", `${path}/ban`), "Ban lifted."))}>Unban</button></div>`
        : html`<form class="inline" onSubmit=${ban}>
            <div class="field grow">
              <label for="ban-reason">Reason for the ban</label>
              <input id="ban-reason" name="reason" required maxlength="500" />
            </div>
            <div class="field">
              <label for="ban-until">Until (empty: until lifted)</label>
              <input id="ban-until" name="until" type="datetime-local" />
            </div>
            <button type="submit" class="danger" disabled=${busy || self}>Ban</button>
          </form>`}
      <div class="inline-buttons" role="group" aria-label="Sessions and password">
        <button type="button" disabled=${busy} onClick=${showSessions}>Show sessions</button>
        <button type="button" disabled=${busy}
          onClick=${async () => { const r = await run(() => call("DELETE", `${path}/sessions`), (x) => `Signed out of ${x.revoked} session${x.revoked === 1 ? "" : "s"}.`); if (r) setSessions(null); }}>Sign out everywhere</button>
        <button type="button" disabled=${busy}
          onClick=${async () => { const r = await run(() => call("POST", `${path}/reset-password`), "Password cleared: give them this link."); if (r) setReset(r); }}>Reset password</button>
        ${confirmDelete
          ? html`<button type="button" class="danger" disabled=${busy}
              onClick=${async () => { if (await run(() => call("DELETE", path), "Deleted.") !== undefined) onGone(); }}>Delete ${user.username} for good</button>
            <button type="button" class="link-button" onClick=${() => setConfirmDelete(false)}>Keep</button>`
          : html`<button type="button" class="danger" disabled=${busy || self} onClick=${() => setConfirmDelete(true)}>Delete account</button>`}
      </div>
      ${reset && html`<div class="field reset-link">
        <label for="reset-url">One-time password link (works once, for ${Math.round(reset.expiresInSecs / 3600)} h)</label>
        <input id="reset-url" readonly value=${reset.resetUrl} onFocus=${(/** @type {FocusEvent} */ e) => /** @type {HTMLInputElement} */ (e.currentTarget).select()} />
      </div>`}
      ${sessions && html`<div>
        <h3>Sessions</h3>
        ${sessions.length === 0 ? html`<p class="meta">No live session.</p>` : html`<ul class="admin-list" aria-label="Sessions">
          ${sessions.map((s) => html`<li key=${s.id}>
            <span class="name">${s.userAgent || "unknown client"}</span>
            <span class="meta">${s.clientAddress ?? ""}</span>
            <span class="meta">last used ${when(s.lastUsedAt)}</span>
          </li>`)}
        </ul>`}
      </div>`}
    </div>
  </section>`;
}
