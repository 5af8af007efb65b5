// The audit log: newest first, filtered by actor, action (``user.banned`` or an area: ``user``),
// target (an id, or ``type:id``) and a time range, a page at a time (the server's cursor).
// The server filters by the range's start; its end is applied here, to the pages fetched.
import { call } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { OutcomeLine, formValue, useOutcome, when } from "./common.js";

/**
 * @typedef {{id: number, occurred_at: string, actor: string, actor_address: string | null,
 *   action: string, target_type: string, target_id: string, outcome: string,
 *   details: Record<string, unknown>, request_id: string | null}} AuditEvent
 * @typedef {{actor: string, action: string, target: string, since: string, until: string}} AuditFilters
 */

const PAGE = 50;

/** @param {AuditFilters} filters @param {string | null} cursor */
function query(filters, cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (filters.actor) q.set("actor", filters.actor);
  if (filters.action) q.set("action", filters.action);
  if (filters.target) q.set("target", filters.target);
  if (filters.since) q.set("since", new Date(filters.since).toISOString());
  if (cursor) q.set("cursor", cursor);
  return `/api/admin/audit?${q}`;
}

/** @type {Map<string, Promise<string | null>>} */
const usernames = new Map();

/** An actor's username (one lookup per id for the page's life); null for cli/system or a gone account. @param {string} id */
function username(id) {
  if (id === "cli" || id === "system") return Promise.resolve(null);
  let found = usernames.get(id);
  if (!found) {
    found = call("GET", `/api/admin/users?${new URLSearchParams({ q: id, pageSize: "1" })}`)
      .then((r) => (r.users[0]?.id === id ? r.users[0].username : null), () => null);
    usernames.set(id, found);
  }
  return found;
}

/** @param {{id: string}} props */
function Actor({ id }) {
  const [name, setName] = useState(/** @type {string | null} */ (null));
  useEffect(() => {
    username(id).then(setName);
  }, [id]);
  return html`${name && html`<strong>${name}</strong> `}<code>${id}</code>`;
}

export function AuditPanel() {
  const [filters, setFilters] = useState(/** @type {AuditFilters} */ ({ actor: "", action: "", target: "", since: "", until: "" }));
  const [events, setEvents] = useState(/** @type {AuditEvent[]} */ ([]));
  const [next, setNext] = useState(/** @type {string | null} */ (null));
  const [loaded, setLoaded] = useState(false);
  const { outcome, busy, run } = useOutcome();

  useEffect(() => {
    setLoaded(false);
    run(() => call("GET", query(filters, null))).then((page) => {
      setEvents(page ? page.events : []);
      setNext(page ? page.next_cursor : null);
      setLoaded(true);
    });
  }, [filters]);

  async function older() {
    const page = await run(() => call("GET", query(filters, next)));
    if (!page) return;
    setEvents([...events, ...page.events]);
    setNext(page.next_cursor);
  }

  /** @param {SubmitEvent} event */
  function apply(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    setFilters({
      actor: formValue(form, "actor").trim(),
      action: formValue(form, "action").trim(),
      target: formValue(form, "target").trim(),
      since: formValue(form, "since"),
      until: formValue(form, "until"),
    });
  }

  const until = filters.until ? new Date(filters.until).getTime() : Infinity;
  const shownEvents = events.filter((e) => new Date(e.occurred_at).getTime() <= until);
  return html`<section class="card" aria-labelledby="audit-heading">
    <h2 id="audit-heading">Audit log</h2>
    <form class="inline admin-filters" role="search" aria-label="Filter the audit log" onSubmit=${apply}>
      <div class="field"><label for="audit-actor">Actor (user id, cli, system)</label><input id="audit-actor" name="actor" maxlength="256" /></div>
      <div class="field"><label for="audit-action">Action (user.banned, or an area: user)</label><input id="audit-action" name="action" maxlength="256" /></div>
      <div class="field"><label for="audit-target">Target (id, or type:id)</label><input id="audit-target" name="target" maxlength="256" /></div>
      <div class="field"><label for="audit-since">From</label><input id="audit-since" name="since" type="datetime-local" /></div>
      <div class="field"><label for="audit-until">To</label><input id="audit-until" name="until" type="datetime-local" /></div>
      <button type="submit" disabled=${busy}>Filter</button>
    </form>
    <${OutcomeLine} outcome=${outcome} />
    ${loaded && shownEvents.length === 0 && html`<p class="meta">No event matches.</p>`}
    <ol class="audit-list" aria-label="Audit events">
      ${shownEvents.map((e) => html`<li key=${e.id} data-action=${e.action} class=${`outcome-${e.outcome}`}>
        <div class="audit-head">
          <strong class="action">${e.action}</strong>
          <span class=${`tag ${e.outcome === "success" ? "" : "bad"}`}>${e.outcome}</span>
          <time datetime=${e.occurred_at} class="meta">${when(e.occurred_at)}</time>
        </div>
        <div class="meta">by <${Actor} id=${e.actor} />${e.actor_address ? ` from ${e.actor_address}` : ""}
          ${e.target_type || e.target_id ? html` on <code>${e.target_type}${e.target_id ? `:${e.target_id}` : ""}</code>` : ""}</div>
        ${Object.keys(e.details).length > 0 && html`<pre class="details">${JSON.stringify(e.details)}</pre>`}
      </li>`)}
    </ol>
    ${next && html`<button type="button" disabled=${busy} onClick=${older}>Older events</button>`}
  </section>`;
}
