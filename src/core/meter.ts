/**
 * What the metrics count of one door's traffic, told by the access layer that every door goes
 * through (publish, live delivery, replay, the drop policy). Labels stay bounded: a namespace
 * and the door, never a channel or a client. The server's implementation is in
 * `server/metrics.ts`; runtime-neutral here.
 */
export interface DoorMeter {
  /** A message of `bytes` payload bytes was accepted for publishing in `namespace`. */
  published(namespace: string, bytes: number): void;
  /** A message was handed to a connection (live, replayed or from a durable consumer). */
  delivered(namespace: string, bytes: number): void;
  /** Of the deliveries, one from a replay (resume, `from`). */
  replayed(namespace: string, bytes: number): void;
  /** A live message was dropped for a slow consumer (the connection is told of the gap). */
  dropped(namespace: string): void;
}
