// The admin pages (global admins and root): users, runtime settings, the audit log, live
// streams, provider instances — one tab each, at /admin/<tab>. The server decides who may do
// what; a signed-in user who is not an admin is told so.
import { currentSession } from "../api.js";
import { html } from "../lib.js";
import { Link } from "../router.js";
import { AuditPanel } from "./audit.js";
import { LivePanel } from "./live.js";
import { ProvidersPanel } from "./providers.js";
import { SettingsPanel } from "./settings.js";
import { UsersPanel } from "./users.js";

const TABS = /** @type {const} */ ([
  ["users", "Users", UsersPanel],
  ["settings", "Settings", SettingsPanel],
  ["audit", "Audit log", AuditPanel],
  ["live", "Live streams", LivePanel],
  ["providers", "Providers", ProvidersPanel],
]);

/** Whether the signed-in account administers the server. */
export function isAdmin() {
  const role = currentSession()?.user.role;
  return role === "admin" || role === "root";
}

/** @param {{tab: string}} props */
export function AdminPage({ tab }) {
  if (!currentSession()) {
    return html`<main class="card narrow"><h1>Admin</h1><p><${Link} href="/signin?next=/admin">Sign in</${Link}> first.</p></main>`;
  }
  if (!isAdmin()) {
    return html`<main class="card narrow"><h1>Admin</h1><p>Only the server's administrators can open this page.</p></main>`;
  }
  const current = TABS.find(([name]) => name === tab) ?? TABS[0];
  const Panel = current[2];
  return html`<main class="admin">
    <h1>Admin</h1>
    <nav class="tabs" aria-label="Admin sections">
      ${TABS.map(([name, label]) => html`<${Link} key=${name} href=${`/admin/${name}`}
        class=${name === current[0] ? "tab current" : "tab"} aria-current=${name === current[0] ? "page" : undefined}>${label}</${Link}>`)}
    </nav>
    <${Panel} key=${current[0]} />
  </main>`;
}
