import { CatbusError, ErrorCode } from "../shared/errors.ts";
import type { TransportConnection } from "./transport.ts";

/**
 * A frozen server may accept the TCP connection and never answer: an attempt that takes longer
 * than `ms` fails (and what it opens late is closed), so reconnecting goes on.
 */
export async function withConnectTimeout(
  opening: Promise<TransportConnection>,
  ms: number,
): Promise<TransportConnection> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      opening.then((conn) => conn.close(), () => {});
      reject(
        new CatbusError(
          ErrorCode.Timeout,
          `no connection to the server within ${ms} ms`,
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([opening, late]);
  } finally {
    clearTimeout(timer);
  }
}
