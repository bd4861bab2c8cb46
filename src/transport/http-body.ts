import { concat } from "../../client/shared/bytes.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import type { HttpRequest } from "./http-request.ts";

/** Reads at most `limit` bytes of body, or fails with too_large (413) without reading on. */
export async function readBody(
  request: HttpRequest,
  limit: number,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new CatbusError(
      ErrorCode.TooLarge,
      `request body exceeds ${limit} bytes; send less at once`,
    );
  const length = request.headers.get("content-length");
  if (Number(length ?? 0) > limit) throw tooLarge();
  // Framed by its length (the transport reads no further): read whole, without a stream reader.
  if (length !== null) return await request.bytes();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body ?? []) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return concat(chunks);
}
