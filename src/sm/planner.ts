import { jsonDigest } from "./canonical-json.ts";
import { compileDefinition, transitionKey } from "./definition.ts";
import { SmError, SmErrorCode } from "./errors.ts";
import { evaluateGuard } from "./guard.ts";
import { idempotencyScope } from "./idempotency.ts";
import type {
  ApplyEventParams,
  CreateInstanceParams,
  DeleteInstanceParams,
  PutMachineParams,
} from "./params.ts";
import type { SmState } from "./state.ts";
import type { Ctx, IdempotencyStamp, SingleEntry } from "./wal-entry.ts";

/**
 * Deciding a write, synchronously, against the current state: either the WAL entry to write,
 * or an answer that needs no write (an idempotent repeat, an identical machine version).
 * Nothing here mutates the state; the engine applies the entry it gets.
 */
export type Plan =
  | { kind: "write"; entry: SingleEntry }
  /** Answer `result` once the log is durable up to `walOffset`. */
  | { kind: "answer"; result: Record<string, unknown>; walOffset: number };

export interface PlanContext {
  state: SmState;
  now: number;
  newId: () => string;
  /** 0 = no limit. */
  maxMachineVersions: number;
}

const fail = (code: SmErrorCode, message: string, details?: Record<string, unknown>): never => {
  throw new SmError(code, message, details ? { details } : undefined);
};

/** A retry of an earlier write with the same key: its first result, or CONFLICT. */
function repeatOf(
  ctx: PlanContext,
  op: string,
  instance: string,
  params: { idempotency_key?: string },
): { plan?: Plan; stamp?: IdempotencyStamp } {
  if (params.idempotency_key === undefined) return {};
  const { idempotency_key: key, ...rest } = params;
  const scope = idempotencyScope(op, instance, key);
  const digest = jsonDigest(rest);
  const prior = ctx.state.idempotency.get(scope, ctx.now);
  if (!prior) return { stamp: { scope, digest } };
  if (prior.digest !== digest) {
    fail(
      SmErrorCode.Conflict,
      `${op}: idempotency_key "${key}" was used with different parameters; use a new key for a new request`,
      { idempotency_key: key },
    );
  }
  return {
    plan: {
      kind: "answer",
      result: { ...prior.result, applied: false },
      walOffset: prior.walOffset,
    },
  };
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function planPutMachine(ctx: PlanContext, p: PutMachineParams): Plan {
  const compiled = compileDefinition(p.definition);
  const checksum = jsonDigest(compiled.definition);
  // A SHA-256 checksum (Catbus's form) is checked; rstmdb ignores the param, and its clients
  // may send its own form (CRC-32C hex), which is ignored here too.
  if (p.checksum !== undefined && SHA256_HEX.test(p.checksum) && p.checksum !== checksum) {
    fail(
      SmErrorCode.BadRequest,
      `PUT_MACHINE: checksum ${p.checksum} does not match the definition (SHA-256 of its canonical JSON is ${checksum})`,
    );
  }
  const versions = ctx.state.machines.get(p.machine);
  const existing = versions?.get(p.version);
  if (existing) {
    if (existing.checksum !== checksum) {
      fail(
        SmErrorCode.MachineVersionExists,
        `machine ${p.machine} version ${p.version} already exists with a different definition; versions are immutable, put it as a new version`,
        { machine: p.machine, version: p.version, stored_checksum: existing.checksum },
      );
    }
    return {
      kind: "answer",
      result: { machine: p.machine, version: p.version, stored_checksum: checksum, created: false },
      walOffset: existing.walOffset,
    };
  }
  if (ctx.maxMachineVersions > 0 && (versions?.size ?? 0) >= ctx.maxMachineVersions) {
    fail(
      SmErrorCode.MachineVersionLimitExceeded,
      `machine ${p.machine} already has ${versions!.size} versions, the configured maximum`,
      { machine: p.machine, limit: ctx.maxMachineVersions },
    );
  }
  return {
    kind: "write",
    entry: {
      type: "put_machine",
      machine: p.machine,
      version: p.version,
      definition: compiled.definition,
      checksum,
    },
  };
}

export function planCreateInstance(ctx: PlanContext, p: CreateInstanceParams): Plan {
  const repeat = repeatOf(ctx, "CREATE_INSTANCE", p.instance_id ?? "", p);
  if (repeat.plan) return repeat.plan;
  const machine = ctx.state.machine(p.machine, p.version) ??
    fail(
      SmErrorCode.MachineNotFound,
      `machine ${p.machine} version ${p.version} does not exist; put it first (PUT_MACHINE)`,
      { machine: p.machine, version: p.version },
    );
  const id = p.instance_id ?? ctx.newId();
  const existing = ctx.state.instances.get(id);
  if (existing) {
    fail(
      SmErrorCode.InstanceExists,
      existing.deleted
        ? `instance ${id} was deleted, and the ids of deleted instances are not reused (as in rstmdb); pick another instance_id`
        : `instance ${id} already exists; pick another instance_id`,
      { instance_id: id },
    );
  }
  return {
    kind: "write",
    entry: {
      type: "create_instance",
      instance_id: id,
      machine: p.machine,
      version: p.version,
      state: machine.compiled.definition.initial,
      ctx: p.initial_ctx,
      ...(repeat.stamp ? { idempotency: repeat.stamp } : {}),
    },
  };
}

export const instanceNotFoundError = (id: string) =>
  new SmError(SmErrorCode.InstanceNotFound, `instance ${id} does not exist`, {
    details: { instance_id: id },
  });

export const instanceNotFound = (id: string): never => {
  throw instanceNotFoundError(id);
};

const deletedInstanceError = (id: string) =>
  new SmError(
    SmErrorCode.InstanceNotFound,
    `instance ${id} was deleted; events cannot be applied`,
    {
      details: { instance_id: id, deleted: true },
    },
  );

/** APPLY_EVENT in rstmdb's order: idempotency, instance, expectations, transition, guard, merge. */
export function planApplyEvent(ctx: PlanContext, p: ApplyEventParams): Plan {
  const repeat = repeatOf(ctx, "APPLY_EVENT", p.instance_id, p);
  if (repeat.plan) return repeat.plan;
  const instance = ctx.state.instances.get(p.instance_id) ?? instanceNotFound(p.instance_id);
  if (instance.deleted) throw deletedInstanceError(instance.id);
  if (p.expected_state !== undefined && p.expected_state !== instance.state) {
    fail(
      SmErrorCode.Conflict,
      `instance ${instance.id} is in state ${instance.state}, not the expected ${p.expected_state}; read it again and retry`,
      { current_state: instance.state, current_wal_offset: instance.lastWalOffset },
    );
  }
  if (p.expected_wal_offset !== undefined && p.expected_wal_offset !== instance.lastWalOffset) {
    fail(
      SmErrorCode.Conflict,
      `instance ${instance.id} changed at wal_offset ${instance.lastWalOffset}, not the expected ${p.expected_wal_offset}; read it again and retry`,
      { current_state: instance.state, current_wal_offset: instance.lastWalOffset },
    );
  }
  const machine = ctx.state.machine(instance.machine, instance.version)!;
  const transition = machine.compiled.transitions.get(transitionKey(instance.state, p.event)) ??
    fail(
      SmErrorCode.InvalidTransition,
      `machine ${instance.machine} v${instance.version} has no transition for event ${p.event} from state ${instance.state}`,
      { state: instance.state, event: p.event },
    );
  if (transition.guard && !evaluateGuard(transition.guard, instance.ctx)) {
    fail(
      SmErrorCode.GuardFailed,
      `the guard of ${instance.state} --${p.event}--> ${transition.to} is false for the instance's ctx`,
      { state: instance.state, event: p.event },
    );
  }
  const isMergeable = p.payload !== null && typeof p.payload === "object" &&
    !Array.isArray(p.payload);
  const newCtx: Ctx = isMergeable ? { ...instance.ctx, ...p.payload as Ctx } : instance.ctx;
  return {
    kind: "write",
    entry: {
      type: "apply_event",
      instance_id: instance.id,
      machine: instance.machine,
      version: instance.version,
      from_state: instance.state,
      to_state: transition.to,
      event: p.event,
      payload: p.payload,
      ctx: newCtx,
      event_id: p.event_id ?? ctx.newId(),
      ...(repeat.stamp ? { idempotency: repeat.stamp } : {}),
    },
  };
}

export function planDeleteInstance(ctx: PlanContext, p: DeleteInstanceParams): Plan {
  const repeat = repeatOf(ctx, "DELETE_INSTANCE", p.instance_id, p);
  if (repeat.plan) return repeat.plan;
  const instance = ctx.state.instances.get(p.instance_id) ?? instanceNotFound(p.instance_id);
  if (instance.deleted) {
    // Deleting again answers as the first delete did, with no new write (as in rstmdb).
    return {
      kind: "answer",
      result: { instance_id: instance.id, deleted: true, wal_offset: instance.lastWalOffset },
      walOffset: instance.lastWalOffset,
    };
  }
  return {
    kind: "write",
    entry: {
      type: "delete_instance",
      instance_id: instance.id,
      machine: instance.machine,
      version: instance.version,
      state: instance.state,
      ...(repeat.stamp ? { idempotency: repeat.stamp } : {}),
    },
  };
}
