// The client's entry point: the header, and the page for the current path.
//   /                 rooms (discovery, my rooms, create) — sign in first
//   /setup?token=...  first run: the root account
//   /signin /signup   OPAQUE sign in / sign up
//   /rooms/{id}       a room; /rooms/{id}/live, /settings, /members: its management pages
//   /account          sessions, sign out of other devices
//   /admin/{tab}      the admin pages (admins and root): users, settings, audit, live, providers
import { call, currentSession, onSessionChange } from "./api.js";
import { html, render, useEffect, useState } from "./lib.js";
import { Link, useLocation } from "./router.js";
import { AccountPage, signOut } from "./pages/account.js";
import { GoLivePage } from "./pages/golive.js";
import { MembersPage } from "./pages/members.js";
import { RoomPage } from "./pages/room.js";
import { RoomSettingsPage } from "./pages/settings.js";
import { RoomsPage } from "./pages/rooms.js";
import { SetupPage } from "./pages/setup.js";
import { SignInPage } from "./pages/signin.js";

function useSession() {
  const [session, setCurrent] = useState(currentSession());
  useEffect(() => onSessionChange(setCurrent), []);
  return session;
}

/** @param {import("./api.js").Session | null} session */
function isAdmin(session) {
  return session?.user.role === "admin" || session?.user.role === "root";
}

/** The admin pages, loaded when first opened (not part of the first load). @param {{tab: string}} props */
function Admin({ tab }) {
  const [page, setPage] = useState(/** @type {typeof import("./admin/admin.js") | null} */ (null));
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    import("./admin/admin.js").then(setPage, () => setFailed(true));
  }, []);
  if (page) return html`<${page.AdminPage} tab=${tab} />`;
  return html`<main class="card narrow"><p role="status">${failed ? "The admin pages did not load: reload the page." : "Loading…"}</p></main>`;
}

/** Home for a signed-out visitor: first run when the server has no account yet. */
function Welcome() {
  const [needed, setNeeded] = useState(false);
  useEffect(() => {
    call("GET", "/api/setup", undefined, { token: null }).then((s) => setNeeded(s.needed), () => {});
  }, []);
  if (needed) return html`<${SetupPage} token="" />`;
  return html`<${SignInPage} mode="signin" next="/" />`;
}

/** @type {Record<string, (props: {roomId: string}) => any>} */
const TOOLS = { live: GoLivePage, settings: RoomSettingsPage, members: MembersPage };

function App() {
  const { path, query } = useLocation();
  const session = useSession();
  let page;
  const room = path.match(/^\/rooms\/([A-Za-z0-9_-]+)\/?$/);
  const tool = path.match(/^\/rooms\/([A-Za-z0-9_-]+)\/(live|settings|members)\/?$/);
  const admin = path.match(/^\/admin(?:\/([a-z]+))?\/?$/);
  if (path === "/setup") page = html`<${SetupPage} token=${query.get("token") ?? ""} />`;
  else if (path === "/signin" || path === "/signup") {
    page = html`<${SignInPage} mode=${path === "/signin" ? "signin" : "signup"} next=${query.get("next") ?? "/"} />`;
  } else if (admin) page = html`<${Admin} tab=${admin[1] ?? "users"} />`;
  else if (room) page = html`<${RoomPage} key=${room[1]} roomId=${room[1]} />`;
  else if (tool && !session) page = html`<${SignInPage} mode="signin" next=${path} />`;
  else if (tool) page = html`<${TOOLS[tool[2]]} key=${path} roomId=${tool[1]} />`;
  else if (path === "/account") {
    page = session ? html`<${AccountPage} />` : html`<${SignInPage} mode="signin" next="/account" />`;
  }
  else if (path === "/" && session) page = html`<${RoomsPage} />`;
  else if (path === "/") page = html`<${Welcome} />`;
  else page = html`<main class="card narrow"><h1>Not found</h1><p><${Link} href="/">Home</${Link}></p></main>`;
  return html`
    <header class="top">
      <${Link} href="/" class="brand">SyncTV</${Link}>
      <nav aria-label="Account">
        ${session
          ? html`${isAdmin(session) && html`<${Link} href="/admin">Admin</${Link}>`}
              <${Link} href="/account" class="who">${session.user.displayName || session.user.username}</${Link}>
              <button type="button" class="link-button" onClick=${signOut}>Sign out</button>`
          : html`<${Link} href="/signin">Sign in</${Link}>`}
      </nav>
    </header>
    ${page}`;
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(html`<${App} />`, root);
}
