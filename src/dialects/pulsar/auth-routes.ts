import { authenticate, type PulsarContext, requirePermission } from "./context.ts";
import {
  badRequest,
  Fields,
  HttpError,
  json,
  notFound,
  readForm,
  readJson,
  unauthorized,
} from "./http.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import { PERMISSIONS, type PulsarPermission, type UserRecord } from "./store.ts";
import type { Route } from "./router.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** A user as the API shows it (no password hash). */
export const userPublic = (ctx: PulsarContext, u: UserRecord) => ({
  user_id: u.user_id,
  username: u.username,
  email: u.email,
  is_active: u.is_active,
  created_at: u.created_at,
  permissions: u.permissions,
  owned_topics: ctx.store.ownedTopics(u.user_id),
});

function permissionsField(f: Fields, name: string): PulsarPermission[] | undefined {
  const list = f.list(name);
  if (!list) return undefined;
  for (const [i, p] of list.entries()) {
    if (!(PERMISSIONS as readonly unknown[]).includes(p)) {
      f.problem(name, "literal_error", "Input should be 'admin', 'read' or 'write'", p);
      return undefined;
    }
    void i;
  }
  return [...new Set(list as PulsarPermission[])];
}

/** A new user's fields, checked as the original's `UserCreate` (username 3–50, password ≥ 8). */
export function newUserFields(body: unknown) {
  const f = new Fields(body);
  const username = f.str("username", { required: true, min: 3, max: 50 });
  const email = f.str("email");
  const password = f.str("password", { required: true, min: 8 });
  const permissions = permissionsField(f, "permissions") ?? [];
  f.done();
  return { username: username!, email: email ?? null, password: password!, permissions };
}

/** Creates a user (the register endpoint, the bootstrap admin and `catbus pulsar user add`). */
export async function createUser(
  ctx: Pick<PulsarContext, "store">,
  fields: ReturnType<typeof newUserFields>,
): Promise<UserRecord> {
  const user = await ctx.store.createUser({
    username: fields.username,
    email: fields.email,
    hashed_password: await hashPassword(fields.password),
    permissions: fields.permissions,
  });
  if (!user) throw badRequest(`Username '${fields.username}' already exists`);
  return user;
}

async function tokenResponse(ctx: PulsarContext, user: UserRecord, parent?: string) {
  return json(200, {
    access_token: await ctx.tokens.sign(user),
    token_type: "bearer",
    expires_in: Math.round(ctx.tokens.lifetimeMs / 1000),
    refresh_token: await ctx.store.issueRefresh(
      user.user_id,
      ctx.settings.pulsarRefreshLifetimeMs,
      parent,
    ),
  });
}

const wrongCredentials = () => unauthorized("Incorrect username or password");

/** `POST /auth/login`: the OAuth2 password form. */
async function login(ctx: PulsarContext, request: HttpRequest) {
  const form = await readForm(request, ctx.settings.pulsarMaxBodyBytes);
  const f = new Fields({
    username: form.get("username") ?? undefined,
    password: form.get("password") ?? undefined,
  });
  const username = f.str("username", { required: true });
  const password = f.str("password", { required: true });
  f.done();
  if (ctx.loginFailures.blocked(username!)) {
    throw new HttpError(429, "Too many failed logins for this user; wait a minute and retry");
  }
  const user = ctx.store.userByName(username!);
  if (!user || !await verifyPassword(password!, user.hashed_password)) {
    ctx.loginFailures.failed(username!);
    throw wrongCredentials();
  }
  if (!user.is_active) throw new HttpError(403, "User account is inactive");
  return await tokenResponse(ctx, user);
}

async function refresh(ctx: PulsarContext, request: HttpRequest) {
  const f = new Fields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  const wire = f.str("refresh_token", { required: true });
  f.done();
  const used = await ctx.store.consumeRefresh(wire!);
  if (!used) throw unauthorized("invalid refresh token");
  const user = ctx.store.user(used.userId);
  if (!user || !user.is_active) throw unauthorized("user not found");
  return await tokenResponse(ctx, user, used.jti);
}

/** `POST /auth/logout`: deny-lists this access token; a refresh token in the body is revoked too. */
async function logout(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  const body = request.headers.get("content-type")?.includes("json")
    ? await readJson(request, ctx.settings.pulsarMaxBodyBytes)
    : {};
  const f = new Fields(body ?? {});
  const wire = f.str("refresh_token");
  f.done();
  if (wire) await ctx.store.revokeRefresh(wire);
  await ctx.store.deny(caller.claims.jti, caller.claims.exp);
  return json(204, null);
}

async function register(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  requirePermission(caller.user, "admin");
  const fields = newUserFields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  return json(201, userPublic(ctx, await createUser(ctx, fields)));
}

async function me(ctx: PulsarContext, request: HttpRequest) {
  const { user } = await authenticate(ctx, request);
  return json(200, userPublic(ctx, user));
}

async function admin(ctx: PulsarContext, request: HttpRequest) {
  const caller = await authenticate(ctx, request);
  requirePermission(caller.user, "admin");
  return caller;
}

const userNotFound = (id: string) => notFound(`User with ID '${id}' not found`);

async function updateUser(ctx: PulsarContext, request: HttpRequest, id: string) {
  await admin(ctx, request);
  if (!ctx.store.user(id)) throw userNotFound(id);
  const f = new Fields(await readJson(request, ctx.settings.pulsarMaxBodyBytes));
  const email = f.str("email");
  const password = f.str("password", { min: 8 });
  const permissions = permissionsField(f, "permissions");
  const isActive = f.bool("is_active");
  f.done();
  const updated = await ctx.store.updateUser(id, {
    ...(f.has("email") ? { email: email ?? null } : {}),
    ...(password !== undefined ? { hashed_password: await hashPassword(password) } : {}),
    ...(permissions !== undefined ? { permissions } : {}),
    ...(isActive !== undefined ? { is_active: isActive } : {}),
  });
  if (!updated) throw userNotFound(id);
  return json(200, userPublic(ctx, updated));
}

async function deleteUser(ctx: PulsarContext, request: HttpRequest, id: string) {
  const caller = await admin(ctx, request);
  if (id === caller.user.user_id) throw badRequest("Cannot delete your own user account");
  if (!await ctx.store.deleteUser(id)) throw userNotFound(id);
  return json(204, null);
}

export const AUTH_ROUTES: Route[] = [
  ["POST", "/auth/login", login],
  ["POST", "/auth/token/refresh", refresh],
  ["POST", "/auth/logout", logout],
  ["POST", "/auth/register", register],
  ["GET", "/auth/me", me],
  ["GET", "/auth/users", async (ctx, request) => {
    await admin(ctx, request);
    return json(200, ctx.store.users().map((u) => userPublic(ctx, u)));
  }],
  ["GET", "/auth/users/stats", async (ctx, request) => {
    await admin(ctx, request);
    const users = ctx.store.users();
    return json(200, {
      total_users: users.length,
      active_users: users.filter((u) => u.is_active).length,
    });
  }],
  ["PATCH", "/auth/users/{id}", (ctx, request, [id]) => updateUser(ctx, request, id)],
  ["DELETE", "/auth/users/{id}", (ctx, request, [id]) => deleteUser(ctx, request, id)],
];
