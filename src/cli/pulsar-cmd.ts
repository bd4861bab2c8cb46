import { ensureDataDir, lockDataDir } from "../server/data-dir.ts";
import { createUser, newUserFields } from "../dialects/pulsar/auth-routes.ts";
import { HttpError } from "../dialects/pulsar/http.ts";
import { openPulsarStore } from "../dialects/pulsar/store-open.ts";
import { stopPasswordWorker } from "../dialects/pulsar/password.ts";
import { cliContext, parseCommand, UsageError } from "./context.ts";

const USAGE = "usage: catbus pulsar user add NAME [--permissions admin,read,write] [--email E]\n" +
  "  (the password is asked for; from a pipe, the first line of stdin)";

const CTRL_C = String.fromCharCode(3);
const CTRL_D = String.fromCharCode(4);

/** Reads the password: without echo from a terminal, else the first line of stdin. */
async function readPassword(): Promise<string> {
  const encoder = new TextEncoder();
  const terminal = Deno.stdin.isTerminal();
  if (terminal) {
    await Deno.stderr.write(encoder.encode("password: "));
    Deno.stdin.setRaw(true);
  }
  const decoder = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(256);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
      if ([..."\r\n", CTRL_C, CTRL_D].some((c) => text.includes(c))) break;
    }
  } finally {
    if (terminal) {
      Deno.stdin.setRaw(false);
      await Deno.stderr.write(encoder.encode("\n"));
    }
  }
  if (text.includes(CTRL_C)) throw new UsageError("cancelled");
  return text.split(CTRL_D)[0].split(/\r?\n|\r/)[0];
}

/**
 * `catbus pulsar user add NAME --permissions admin,read,write`: a Pulsar Relay user created in
 * the data directory (the first admin, before the server starts; a running server is refused:
 * use POST /auth/register with an admin token then).
 */
export async function pulsarCommand(args: string[], env: Record<string, string | undefined>) {
  const [group, verb, ...rest] = args;
  if (group !== "user" || verb !== "add") throw new UsageError(USAGE);
  const parsed = parseCommand(rest, {
    permissions: { type: "string" },
    email: { type: "string" },
  });
  const values = parsed.values as Record<string, string | undefined>;
  const positionals = parsed.positionals;
  if (positionals.length !== 1) throw new UsageError(USAGE);
  const { data, databaseUrl } = cliContext(values, env);
  await ensureDataDir(data);
  const lock = await lockDataDir(data, "catbus pulsar user add");
  try {
    const store = await openPulsarStore({ data, databaseUrl }, () => {});
    const permissions = (values.permissions ?? "read")
      .split(",").map((p) => p.trim()).filter(Boolean);
    const password = await readPassword();
    try {
      const user = await createUser(
        { store },
        newUserFields({
          username: positionals[0],
          password,
          permissions,
          ...(values.email ? { email: values.email } : {}),
        }),
      );
      console.log(
        `created pulsar user ${user.username} (${user.user_id}): ${permissions.join(",")}`,
      );
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      const detail = (e.body as { detail: unknown }).detail;
      throw new UsageError(
        typeof detail === "string"
          ? detail
          : (detail as { loc: string[]; msg: string }[]).map((p) => `${p.loc.at(-1)}: ${p.msg}`)
            .join("; "),
      );
    }
    await store.close();
  } finally {
    stopPasswordWorker();
    lock.release();
  }
}
