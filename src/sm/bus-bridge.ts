import type { Broker } from "../core/broker.ts";
import { SM_NAMESPACE, smChannel } from "./bus-channel.ts";
import type { Change } from "./change.ts";
import type { StateMachineEngine } from "./engine.ts";
import type { Logger } from "../core/logger.ts";

const encoder = new TextEncoder();

/** The JSON payload of a change published on the bus. */
export const busPayload = (c: Change) => ({
  kind: c.kind,
  machine: c.machine,
  version: c.version,
  instance_id: c.instanceId,
  wal_offset: c.walOffset,
  from_state: c.fromState,
  to_state: c.toState,
  event: c.event,
  payload: c.payload,
  ctx: c.ctx,
  time: c.time,
});

/**
 * Publishes every durable change as a Catbus message on `sm.<machine>.<instance>`, so any
 * Catbus client (WebSocket, WebTransport, SSE…) can watch state machines with ordinary grants.
 * Publishing does not hold up the engine: the WAL is the record, the bus a copy of it.
 */
export async function bridgeToBus(
  engine: StateMachineEngine,
  broker: Broker,
  log: Logger,
): Promise<() => void> {
  await broker.createNamespace(SM_NAMESPACE);
  return engine.onChange((c) => {
    broker.publish({
      channel: smChannel(c.machine, c.instanceId),
      payload: encoder.encode(JSON.stringify(busPayload(c))),
    }).catch((e) => log("warn", "publishing a state-machine change failed", { error: String(e) }));
  });
}
