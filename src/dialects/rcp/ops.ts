import {
  BATCH_OPS,
  type BatchOp,
  MAX_BATCH_OPS,
  type Result,
  type StateMachineEngine,
} from "../../sm/engine.ts";
import { badRequest } from "../../sm/errors.ts";
import {
  applyEventParams,
  createInstanceParams,
  deleteInstanceParams,
  instanceRef,
  listInstancesParams,
  machineRef,
  ParamReader,
  putMachineParams,
} from "../../sm/params.ts";

/**
 * The data operations of RCP, each mapping a request's params onto the engine. Connection
 * operations (HELLO, AUTH, PING, BYE, INFO, WATCH_*, UNWATCH) live in the session.
 */
export type DataOp = (engine: StateMachineEngine, params: ParamReader) => Result | Promise<Result>;

const MAX_WAL_READ = 1000;

function batchOp(raw: unknown, i: number): BatchOp {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw badRequest(`BATCH: ops[${i}] must be an object {op, params}`, { op_index: i });
  }
  const { op, params } = raw as { op?: unknown; params?: unknown };
  if (typeof op !== "string" || !BATCH_OPS.has(op)) {
    throw badRequest(
      `BATCH: ops[${i}].op ${JSON.stringify(op)} is not allowed in a batch (allowed: ${
        [...BATCH_OPS].join(", ")
      })`,
      { op_index: i },
    );
  }
  const r = new ParamReader(`BATCH ops[${i}] ${op}`, params);
  switch (op as BatchOp["op"]) {
    case "PUT_MACHINE":
      return { op: "PUT_MACHINE", params: putMachineParams(r) };
    case "GET_MACHINE":
      return { op: "GET_MACHINE", params: machineRef(r) };
    case "CREATE_INSTANCE":
      return { op: "CREATE_INSTANCE", params: createInstanceParams(r) };
    case "GET_INSTANCE":
      return { op: "GET_INSTANCE", params: instanceRef(r) };
    case "APPLY_EVENT":
      return { op: "APPLY_EVENT", params: applyEventParams(r) };
    case "DELETE_INSTANCE":
      return { op: "DELETE_INSTANCE", params: deleteInstanceParams(r) };
  }
}

/** By name; a Map, so names like `constructor` or `__proto__` are unknown ops, not methods. */
export const DATA_OPS = new Map<string, DataOp>(Object.entries(
  {
    PUT_MACHINE: (e, r) => e.putMachine(putMachineParams(r)),
    GET_MACHINE: (e, r) => e.getMachine(machineRef(r)),
    LIST_MACHINES: (e) => e.listMachines(),
    CREATE_INSTANCE: (e, r) => e.createInstance(createInstanceParams(r)),
    GET_INSTANCE: (e, r) => e.getInstance(instanceRef(r)),
    LIST_INSTANCES: (e, r) => e.listInstances(listInstancesParams(r)),
    DELETE_INSTANCE: (e, r) => e.deleteInstance(deleteInstanceParams(r)),
    APPLY_EVENT: (e, r) => e.applyEvent(applyEventParams(r)),
    BATCH: (e, r) => {
      const mode = r.optString("mode") ?? "best_effort";
      if (mode !== "atomic" && mode !== "best_effort") {
        throw badRequest(
          `BATCH: mode must be "atomic" or "best_effort", got ${JSON.stringify(mode)}`,
        );
      }
      const ops = r.raw("ops");
      if (!Array.isArray(ops) || ops.length === 0 || ops.length > MAX_BATCH_OPS) {
        throw badRequest(`BATCH: ops must be a list of 1 to ${MAX_BATCH_OPS} operations`);
      }
      return e.batch(mode, ops.map(batchOp));
    },
    SNAPSHOT_INSTANCE: (e, r) => e.snapshotInstance(instanceRef(r)),
    WAL_READ: (e, r) =>
      e.walRead(
        r.integer("from_offset", 0, Number.MAX_SAFE_INTEGER, 0),
        r.integer("limit", 1, MAX_WAL_READ, 100),
      ),
    WAL_STATS: (e) => e.walStats(),
    COMPACT: (e, r) => e.compact(r.bool("force_snapshot", false)),
    FLUSH_ALL: (e) => e.flushAll(),
  } satisfies Record<string, DataOp>,
));
