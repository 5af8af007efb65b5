// Sign in and sign up with OPAQUE (the password never leaves the browser).
import { explain, setSession } from "../api.js";
import { html, useState } from "../lib.js";
import { login, register } from "../opaque.js";
import { Link, navigate } from "../router.js";
import { OidcButtons } from "./account.js";
import { Field, PasswordFields } from "./forms.js";

/** @param {{mode: "signin" | "signup", next: string}} props */
export function SignInPage({ mode, next }) {
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.target));
    const username = String(form.get("username"));
    const password = String(form.get("password"));
    if (signup && password !== String(form.get("confirm"))) return setError("The two passwords differ.");
    setBusy(true);
    setError("");
    try {
      const auth = "/api/auth/opaque";
      if (signup) {
        const done = await register({
          start: `${auth}/registration/start`,
          finish: `${auth}/registration/finish`,
          fields: { username },
          password,
          token: null,
        });
        if (done.status === "pending_review") {
          setNotice("Your account waits for an administrator's approval.");
          return;
        }
        setSession({ accessToken: done.accessToken, refreshToken: done.refreshToken, user: done.user });
      } else {
        const done = await login({ start: `${auth}/login/start`, finish: `${auth}/login/finish`, fields: { username }, password });
        setSession({ accessToken: done.accessToken, refreshToken: done.refreshToken, user: done.user });
      }
      navigate(next || "/");
    } catch (e) {
      setError(explain(e));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="card narrow">
      <h1>${signup ? "Create an account" : "Sign in"}</h1>
      <form onSubmit=${submit}>
        <${Field} label="Username" name="username" autocomplete="username" required />
        <${PasswordFields} confirm=${signup} autocomplete=${signup ? "new-password" : "current-password"} />
        ${error && html`<p class="error" role="alert">${error}</p>`}
        ${notice && html`<p class="notice" role="status">${notice}</p>`}
        <button type="submit" disabled=${busy}>${busy ? "Please wait…" : signup ? "Create account" : "Sign in"}</button>
      </form>
      <${OidcButtons} next=${next} />
      <p class="aside">${signup
        ? html`Have an account? <${Link} href="/signin">Sign in</${Link}>`
        : html`New here? <${Link} href="/signup">Create an account</${Link}>`}</p>
    </main>`;
}
