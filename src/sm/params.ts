import { badRequest } from "./errors.ts";
import type { Ctx } from "./wal-entry.ts";

/** Typed parameters of the engine's operations, validated from a request's `params`. */
export interface PutMachineParams {
  machine: string;
  version: number;
  definition: unknown;
  checksum?: string;
}
export interface MachineRef {
  machine: string;
  version: number;
}
export interface CreateInstanceParams extends MachineRef {
  instance_id?: string;
  initial_ctx: Ctx;
  idempotency_key?: string;
}
export interface InstanceRef {
  instance_id: string;
}
export interface DeleteInstanceParams extends InstanceRef {
  idempotency_key?: string;
}
export interface ApplyEventParams extends InstanceRef {
  event: string;
  payload: unknown;
  expected_state?: string;
  expected_wal_offset?: number;
  event_id?: string;
  idempotency_key?: string;
}
export interface ListInstancesParams {
  machine?: string;
  state?: string;
  limit: number;
  offset: number;
  /** Catbus extension: the `next_cursor` of the previous page (stable under inserts). */
  cursor?: string;
}

export const MAX_LIST_LIMIT = 1000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** Reads typed fields out of one request's params; errors name the op and the field. */
export class ParamReader {
  readonly #params: Record<string, unknown>;
  readonly #op: string;

  constructor(op: string, params: unknown) {
    if (params !== undefined && params !== null && !isObject(params)) {
      throw badRequest(`${op}: params must be an object`);
    }
    this.#op = op;
    this.#params = (params ?? {}) as Record<string, unknown>;
  }

  #fail(field: string, expected: string): never {
    throw badRequest(
      `${this.#op}: params.${field} must be ${expected}, got ${
        JSON.stringify(this.#params[field])?.slice(0, 80)
      }`,
      { field },
    );
  }

  has(field: string): boolean {
    return this.#params[field] !== undefined && this.#params[field] !== null;
  }

  raw(field: string): unknown {
    return this.#params[field];
  }

  string(field: string): string {
    const v = this.#params[field];
    return typeof v === "string" && v.length > 0 ? v : this.#fail(field, "a non-empty string");
  }

  optString(field: string): string | undefined {
    return this.has(field) ? this.string(field) : undefined;
  }

  /** A whole number in [min, max]. */
  integer(field: string, min: number, max: number, fallback?: number): number {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const v = this.#params[field];
    return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
      ? v as number
      : this.#fail(field, `a whole number from ${min} to ${max}`);
  }

  optInteger(field: string, min: number, max: number): number | undefined {
    return this.has(field) ? this.integer(field, min, max) : undefined;
  }

  bool(field: string, fallback: boolean): boolean {
    if (!this.has(field)) return fallback;
    const v = this.#params[field];
    return typeof v === "boolean" ? v : this.#fail(field, "true or false");
  }

  object(field: string, fallback: Ctx): Ctx {
    if (!this.has(field)) return fallback;
    const v = this.#params[field];
    return isObject(v) ? v : this.#fail(field, "a JSON object");
  }

  stringList(field: string): string[] {
    if (!this.has(field)) return [];
    const v = this.#params[field];
    return Array.isArray(v) && v.every((s) => typeof s === "string")
      ? v
      : this.#fail(field, "a list of strings");
  }
}

const U32 = 0xffff_ffff;

export function putMachineParams(r: ParamReader): PutMachineParams {
  if (!r.has("definition")) throw badRequest("PUT_MACHINE: params.definition is required");
  return {
    machine: r.string("machine"),
    version: r.integer("version", 0, U32),
    definition: r.raw("definition"),
    checksum: r.optString("checksum"),
  };
}

export const machineRef = (r: ParamReader): MachineRef => ({
  machine: r.string("machine"),
  version: r.integer("version", 0, U32),
});

export const createInstanceParams = (r: ParamReader): CreateInstanceParams => ({
  ...machineRef(r),
  instance_id: r.optString("instance_id"),
  // An omitted ctx is {} (rstmdb stored null, and later payloads were silently dropped).
  initial_ctx: r.object("initial_ctx", {}),
  idempotency_key: r.optString("idempotency_key"),
});

export const instanceRef = (r: ParamReader): InstanceRef => ({
  instance_id: r.string("instance_id"),
});

export const deleteInstanceParams = (r: ParamReader): DeleteInstanceParams => ({
  ...instanceRef(r),
  idempotency_key: r.optString("idempotency_key"),
});

export const applyEventParams = (r: ParamReader): ApplyEventParams => ({
  ...instanceRef(r),
  event: r.string("event"),
  payload: r.raw("payload") ?? null,
  expected_state: r.optString("expected_state"),
  expected_wal_offset: r.optInteger("expected_wal_offset", 0, Number.MAX_SAFE_INTEGER),
  event_id: r.optString("event_id"),
  idempotency_key: r.optString("idempotency_key"),
});

export const listInstancesParams = (r: ParamReader): ListInstancesParams => ({
  machine: r.optString("machine"),
  state: r.optString("state"),
  limit: r.integer("limit", 1, MAX_LIST_LIMIT, 100),
  offset: r.integer("offset", 0, Number.MAX_SAFE_INTEGER, 0),
  cursor: r.optString("cursor"),
});
