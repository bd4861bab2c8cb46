/** Takes a connection slot: the function that gives it back, or undefined when the door is full. */
export type Admission = () => (() => void) | undefined;

/** Admits everything; for listeners started without a limit (tests, tools). */
export const admitAll: Admission = () => () => {};

/** How long to wait before the next try after `failures` failed ones: 100 ms doubling to 2 s. */
export const retryDelayMs = (failures: number): number =>
  Math.min(2000, 50 * 2 ** Math.min(failures, 6));

/** What an accept loop tells its owner: the first failure of a run, and the recovery. */
export interface AcceptReport {
  failing(error: Error): void;
  recovered(failures: number): void;
}

const listenerClosed = (e: unknown) =>
  e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted;

/**
 * Accepts until the listener is closed. A failed accept (EMFILE, ENFILE when the process or the
 * system is out of file descriptors) does not end the loop: it is reported once per run of
 * failures and retried after a growing back-off, so the door comes back when descriptors do.
 */
export async function acceptLoop<C>(
  accept: () => Promise<C>,
  serve: (conn: C) => void,
  report: AcceptReport,
): Promise<void> {
  let failures = 0;
  for (;;) {
    let conn: C;
    try {
      conn = await accept();
    } catch (e) {
      if (listenerClosed(e)) return;
      if (failures++ === 0) report.failing(e as Error);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(failures)));
      continue;
    }
    if (failures) {
      report.recovered(failures);
      failures = 0;
    }
    serve(conn);
  }
}

/** The longest a refused connection is kept for its last word. */
const REFUSAL_GRACE_MS = 1000;

/**
 * Sends a refused connection its last word, then closes it. Never waits longer than a second: a
 * peer that does not read, or never finishes its TLS handshake, must not keep the descriptor.
 */
export function refuseWith(write: () => Promise<void> | void, close: () => void): void {
  const hangUp = setTimeout(close, REFUSAL_GRACE_MS);
  Promise.resolve().then(write).catch(() => {}).finally(() => {
    clearTimeout(hangUp);
    close();
  });
}
