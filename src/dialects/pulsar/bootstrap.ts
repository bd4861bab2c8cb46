import type { Logger } from "../../core/logger.ts";
import { createUser, newUserFields } from "./auth-routes.ts";
import type { PulsarContext } from "./context.ts";
import { HttpError } from "./http.ts";
import { hashPassword, verifyPassword } from "./password.ts";

/**
 * `PULSAR_BOOTSTRAP_ADMIN_USERNAME` / `_PASSWORD` / `_EMAIL`: the first admin, created at start
 * when missing (as the original does); an existing one gets the configured password back.
 */
export async function bootstrapAdmin(ctx: PulsarContext, log: Logger): Promise<void> {
  const s = ctx.settings;
  const username = s.pulsarBootstrapAdminUsername;
  const password = s.pulsarBootstrapAdminPassword;
  if (!username || !password) return;
  const existing = ctx.store.userByName(username);
  if (existing) {
    if (!await verifyPassword(password, existing.hashed_password)) {
      await ctx.store.updateUser(existing.user_id, {
        hashed_password: await hashPassword(password),
      });
    }
    return;
  }
  try {
    const fields = newUserFields({
      username,
      password,
      email: s.pulsarBootstrapAdminEmail ?? `${username}@example.com`,
      permissions: ["admin", "read", "write"],
    });
    await createUser(ctx, fields);
    log("info", "pulsar bootstrap admin created", { username });
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    throw new Error(
      `PULSAR_BOOTSTRAP_ADMIN_USERNAME/PASSWORD refused: ${e.message} ` +
        "(username 3-50 characters, password at least 8)",
    );
  }
}
