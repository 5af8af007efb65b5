// @serenity-kit/opaque as a test peer: one JSON request per stdin line, one JSON answer per
// stdout line. Request {"op": "client.startLogin", "params": {...}} calls opaque.client.startLogin
// (params) and answers {"ok": result} or {"error": message}. Binary values are base64url without
// padding, exactly as the library takes and returns them.
import { createInterface } from "node:readline";
import * as opaque from "@serenity-kit/opaque";

await opaque.ready;

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let answer;
  try {
    const { op, params } = JSON.parse(line);
    const [side, name] = op.split(".");
    const fn = { client: opaque.client, server: opaque.server }[side]?.[name];
    if (typeof fn !== "function") throw new Error(`unknown op ${op}`);
    const result = params === undefined ? fn() : fn(params);
    answer = { ok: result === undefined ? null : result };
  } catch (error) {
    answer = { error: String(error?.message ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
