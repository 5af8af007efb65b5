// Member management (view_members to see; each action needs its own permission, as the REST
// API under /api/rooms/{room}/members, /bans, /join-requests and /owner says): change a role,
// kick with a cool-down, ban (with a reason) and unban from the room's ban list, approve or reject
// join requests, transfer ownership.
import { call, currentSession, explain } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { navigate } from "../router.js";
import { RoomToolPage, ago } from "./roomtools.js";

/**
 * @typedef {import("./room.js").Access} Access
 * @typedef {{userId: string, username: string, role: string, joinedAt: string}} Member
 * @typedef {{userId: string, username: string, requestedAt: string}} JoinRequest
 * @typedef {{userId: string, username: string, reason: string, bannedBy: string,
 *   bannedByName: string | null, bannedAt: string, until: string | null}} Ban
 */

const COOLDOWNS = [[60, "1 minute"], [600, "10 minutes"], [3600, "1 hour"], [86400, "1 day"], [604800, "1 week"]];
const BAN_LENGTHS = [[0, "until unbanned"], [3600, "for 1 hour"], [86400, "for 1 day"], [604800, "for 1 week"], [2592000, "for 30 days"]];

/** @param {{roomId: string}} props */
export function MembersPage({ roomId }) {
  return html`<${RoomToolPage} roomId=${roomId} title="Members" permission="view_members"
    render=${(/** @type {Access} */ access) => html`<${Members} roomId=${roomId} access=${access} />`} />`;
}

/** @param {{roomId: string, access: Access}} props */
function Members({ roomId, access }) {
  const [members, setMembers] = useState(/** @type {Member[]} */ ([]));
  const [requests, setRequests] = useState(/** @type {JoinRequest[]} */ ([]));
  const [bans, setBans] = useState(/** @type {Ban[]} */ ([]));
  const [banning, setBanning] = useState(/** @type {Member | null} */ (null));
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");
  const [transferTo, setTransferTo] = useState(/** @type {Member | null} */ (null));
  const can = (/** @type {string} */ p) => access.myPermissions.includes(p);
  const me = currentSession()?.user.id;
  const base = `/api/rooms/${roomId}`;

  const load = async () => {
    try {
      const listed = await call("GET", `${base}/members?pageSize=100`, undefined, { roomId });
      setMembers(listed.members);
      if (can("review_join_requests")) setRequests((await call("GET", `${base}/join-requests`, undefined, { roomId })).requests);
      if (can("remove_members")) setBans((await call("GET", `${base}/bans`, undefined, { roomId })).bans);
    } catch (e) {
      setError(explain(e));
    }
  };
  useEffect(() => {
    load();
  }, [roomId]);

  /** One action, then the lists again. @param {string} done @param {() => Promise<unknown>} action */
  const act = async (done, action) => {
    try {
      await action();
      setError("");
      setStatus(done);
    } catch (e) {
      setError(explain(e));
      setStatus("");
    }
    await load();
  };
  /** @param {Member} m @param {string} role */
  const setRole = (m, role) => act(`${m.username} is now ${role === "admin" ? "a room admin" : "a member"}.`,
    () => call("PATCH", `${base}/members/${m.userId}`, { role }, { roomId }));
  /** @param {Member} m @param {number} cooldownSeconds */
  const kick = (m, cooldownSeconds) => act(`${m.username} was removed.`,
    () => call("DELETE", `${base}/members/${m.userId}`, { cooldownSeconds }, { roomId }));
  /** @param {SubmitEvent} event */
  const ban = (event) => {
    event.preventDefault();
    const m = banning;
    if (!m) return;
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    const reason = String(form.get("reason") ?? "").trim();
    const seconds = Number(form.get("length") ?? 0);
    const until = seconds ? new Date(Date.now() + seconds * 1000).toISOString() : undefined;
    setBanning(null);
    act(`${m.username} is banned.`, () => call("PUT", `${base}/bans/${m.userId}`, { reason, until }, { roomId }));
  };
  /** @param {Ban} b */
  const unban = (b) => act(`${b.username} may join again.`,
    () => call("DELETE", `${base}/bans/${b.userId}`, undefined, { roomId }));
  /** @param {JoinRequest} r @param {"approve" | "reject"} verdict */
  const review = (r, verdict) => act(`${r.username}'s request was ${verdict === "approve" ? "approved" : "rejected"}.`,
    () => call("POST", `${base}/join-requests/${r.userId}/${verdict}`, undefined, { roomId }));
  /** @param {Member} m */
  const transfer = async (m) => {
    try {
      await call("POST", `${base}/owner`, { newOwnerId: m.userId }, { roomId });
      navigate(`/rooms/${roomId}`); // the caller is a room admin now: back to the room
    } catch (e) {
      setError(explain(e));
    }
  };

  const creator = access.myRole === "creator";
  return html`
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${status && html`<p class="notice" role="status">${status}</p>`}
    ${can("review_join_requests") && html`<section class="card" aria-label="Join requests">
      <h2>Join requests</h2>
      ${requests.length ? html`<ul class="member-list">${requests.map((r) => html`<li key=${r.userId}>
        <span class="name">${r.username}</span><span class="meta">asked ${ago(r.requestedAt)}</span>
        <button type="button" class="small" onClick=${() => review(r, "approve")} aria-label=${`Approve ${r.username}`}>Approve</button>
        <button type="button" class="small secondary" onClick=${() => review(r, "reject")} aria-label=${`Reject ${r.username}`}>Reject</button>
      </li>`)}</ul>` : html`<p class="aside">Nobody is waiting.</p>`}
    </section>`}
    <section class="card" aria-label="Member list">
      <h2>Members (${members.length})</h2>
      <ul class="member-list">${members.map((m) => {
        const other = m.userId !== me && m.role !== "creator";
        return html`<li key=${m.userId} data-user=${m.username}>
          <span class="name">${m.username}${m.userId === me ? " (you)" : ""}</span>
          ${other && can("manage_member_permissions")
            ? html`<select value=${m.role} aria-label=${`Role of ${m.username}`}
                onChange=${(/** @type {Event} */ e) => setRole(m, /** @type {HTMLSelectElement} */ (e.target).value)}>
                <option value="member">member</option><option value="admin">admin</option>
              </select>`
            : html`<span class="meta">${m.role}</span>`}
          <span class="meta joined">joined ${ago(m.joinedAt)}</span>
          ${other && can("remove_members") && html`<${KickButton} member=${m} kick=${kick} />
            <button type="button" class="small danger" onClick=${() => setBanning(m)} aria-label=${`Ban ${m.username}`}>Ban</button>`}
          ${creator && m.userId !== me && html`<button type="button" class="small secondary" onClick=${() => setTransferTo(m)}
            aria-label=${`Make ${m.username} the owner`}>Make owner</button>`}
        </li>`;
      })}</ul>
      ${transferTo && html`<div class="confirm" role="alertdialog" aria-label="Transfer ownership">
        <p>Make <b>${transferTo.username}</b> the room's owner? You become a room admin.</p>
        <button type="button" class="danger" onClick=${() => transfer(transferTo)}>Transfer ownership</button>
        <button type="button" class="secondary" onClick=${() => setTransferTo(null)}>Cancel</button>
      </div>`}
      ${banning && html`<form class="confirm" aria-label="Ban a member" onSubmit=${ban}>
        <p>Ban <b>${banning.username}</b>? They leave the room and cannot join again while banned.</p>
        <div class="field"><label for="ban-reason">Reason (optional, seen by those who can ban)</label>
          <input id="ban-reason" name="reason" maxLength="500" /></div>
        <select name="length" aria-label="How long">
          ${BAN_LENGTHS.map(([seconds, label]) => html`<option value=${String(seconds)}>${label}</option>`)}
        </select>
        <button type="submit" class="danger">Confirm ban</button>
        <button type="button" class="secondary" onClick=${() => setBanning(null)}>Cancel</button>
      </form>`}
    </section>
    ${can("remove_members") && html`<section class="card" aria-label="Bans">
      <h2>Bans (${bans.length})</h2>
      ${bans.length ? html`<ul class="member-list">${bans.map((b) => html`<li key=${b.userId}>
        <span class="name">${b.username}</span>
        <span class="meta">by ${b.bannedByName ?? b.bannedBy} ${ago(b.bannedAt)}${b.until ? `, until ${new Date(b.until).toLocaleString()}` : ""}</span>
        <button type="button" class="small" onClick=${() => unban(b)} aria-label=${`Unban ${b.username}`}>Unban</button>
        <span class="meta reason">${b.reason || "No reason given."}</span>
      </li>`)}</ul>` : html`<p class="aside">Nobody is banned.</p>`}
    </section>`}`;
}

/** Kick with a chosen cool-down. @param {{member: Member, kick: (m: Member, seconds: number) => void}} props */
function KickButton({ member, kick }) {
  const [cooldown, setCooldown] = useState(600);
  return html`<span class="kick">
    <select value=${String(cooldown)} aria-label=${`Cool-down for ${member.username}`}
      onChange=${(/** @type {Event} */ e) => setCooldown(Number(/** @type {HTMLSelectElement} */ (e.target).value))}>
      ${COOLDOWNS.map(([seconds, label]) => html`<option value=${String(seconds)}>${label}</option>`)}
    </select>
    <button type="button" class="small danger" onClick=${() => kick(member, cooldown)} aria-label=${`Kick ${member.username}`}>Kick</button>
  </span>`;
}
