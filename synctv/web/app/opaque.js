// OPAQUE in the browser (@serenity-kit/opaque, loaded only when a password is typed): the
// password never leaves the page, the server stores a record it cannot test guesses against.
// The library speaks unpadded base64url; the server answers in standard base64 and accepts both.
import { call } from "./api.js";

/** @typedef {typeof import("../vendor/opaque/opaque.mjs")} Opaque */

/** @type {Promise<Opaque> | null} */
let loading = null;

/** The library, fetched and its WebAssembly compiled on first use. @returns {Promise<Opaque>} */
export function opaque() {
  loading ??= import("../vendor/opaque/opaque.mjs").then(async (lib) => {
    await lib.ready;
    return lib;
  });
  return loading;
}

/** Standard base64 (the server's) as the library's unpadded base64url. @param {string} text */
export function toUrl64(text) {
  return text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Registration: ``start`` and ``finish`` name the two endpoints; ``fields`` go with the first
 * (username, setup token ...). Returns the finish call's answer.
 * @param {{start: string, finish: string, fields: Record<string, string>, password: string, token?: string | null}} flow
 */
export async function register(flow) {
  const lib = await opaque();
  const { clientRegistrationState, registrationRequest } = lib.client.startRegistration({
    password: flow.password,
  });
  const options = flow.token === undefined ? {} : { token: flow.token };
  const started = await call("POST", flow.start, { ...flow.fields, registrationRequest }, options);
  const { registrationRecord } = lib.client.finishRegistration({
    password: flow.password,
    clientRegistrationState,
    registrationResponse: toUrl64(started.registrationResponse),
  });
  return call("POST", flow.finish, {
    sessionId: started.sessionId,
    registrationUpload: registrationRecord,
  }, options);
}

export class WrongPassword extends Error {}

/**
 * Sign in: KE1 → KE2 → KE3. ``WrongPassword`` when the library cannot open the server's answer
 * (a wrong password or an unknown name look the same, by design).
 * ``token``: the bearer to call with (default none: a person signing in; a room password is
 * proven by a signed-in caller or a guest).
 * @param {{start: string, finish: string, fields: Record<string, string>, password: string, token?: string | null, roomId?: string}} flow
 */
export async function login(flow) {
  const lib = await opaque();
  const { clientLoginState, startLoginRequest } = lib.client.startLogin({
    password: flow.password,
  });
  const options = { token: flow.token === undefined ? null : flow.token, roomId: flow.roomId };
  const started = await call("POST", flow.start, {
    ...flow.fields,
    credentialRequest: startLoginRequest,
  }, options);
  const finished = lib.client.finishLogin({
    password: flow.password,
    clientLoginState,
    loginResponse: toUrl64(started.credentialResponse),
  });
  if (!finished) throw new WrongPassword("wrong name or password");
  return call("POST", flow.finish, {
    sessionId: started.sessionId,
    credentialFinalization: finished.finishLoginRequest,
  }, options);
}
