// First run: the setup link printed by the server (/setup?token=...) creates the root account.
import { call, explain, setSession } from "../api.js";
import { html, useEffect, useState } from "../lib.js";
import { register } from "../opaque.js";
import { Link, navigate } from "../router.js";
import { Field, PasswordFields } from "./forms.js";

/** @param {{token: string}} props */
export function SetupPage({ token }) {
  const [needed, setNeeded] = useState(/** @type {boolean | null} */ (null));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call("GET", "/api/setup", undefined, { token: null }).then((s) => setNeeded(s.needed), (e) => setError(explain(e)));
  }, []);
  if (needed === false) {
    return html`<main class="card narrow"><h1>Already set up</h1>
      <p>This server has its root account. <${Link} href="/signin">Sign in</${Link}>.</p></main>`;
  }
  if (!token) {
    return html`<main class="card narrow"><h1>Set up SyncTV</h1>
      <p>Open the setup link the server printed in its log when it started (it ends in <code>/setup?token=…</code>).</p></main>`;
  }
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    const password = String(form.get("password"));
    if (password !== String(form.get("confirm"))) return setError("The two passwords differ.");
    setBusy(true);
    setError("");
    try {
      const signedIn = await register({
        start: "/api/setup/registration/start",
        finish: "/api/setup/registration/finish",
        fields: { setupToken: token, username: String(form.get("username")) },
        password,
        token: null,
      });
      setSession({ accessToken: signedIn.accessToken, refreshToken: signedIn.refreshToken, user: signedIn.user });
      navigate("/");
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="card narrow">
      <h1>Welcome to SyncTV</h1>
      <p>Create the root account: it administers this server. Your password never leaves this browser (OPAQUE).</p>
      <form onSubmit=${submit}>
        <${Field} label="Username" name="username" autocomplete="username" required minlength="3" />
        <${PasswordFields} confirm=${true} autocomplete="new-password" />
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create root account"}</button>
      </form>
    </main>`;
}
