import { createHash } from "node:crypto";
import { MAX_SUBJECT_BYTES, SM_NAMESPACE } from "../../client/shared/subject.ts";

/**
 * Channels of state-machine changes on the bus: `sm.<machine>.<instance>`.
 *
 * A channel token may not be empty or contain `.`, `*`, `>`, whitespace or control characters,
 * so names are percent-encoded: each such character (and `%` itself, and a leading `~`) becomes
 * `%XX` per UTF-8 byte, e.g. instance `order.1` → `sm.order.order%2E1`. When the channel would
 * still be longer than 255 bytes, a token over 100 bytes becomes `~` + the first 32 hex digits
 * of the SHA-256 of the name. Subscribers that need the exact names read them from the message.
 */
export { SM_NAMESPACE };
const LONG_TOKEN_BYTES = 100;
const encoder = new TextEncoder();

// deno-lint-ignore no-control-regex
const UNSAFE = /[%.*>\s\u0000-\u001f\u007f]|^~/gu;

export function channelToken(name: string): string {
  return name.replace(
    UNSAFE,
    (ch) =>
      [...encoder.encode(ch)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(
        "",
      ),
  );
}

const hashed = (name: string) => `~${createHash("sha256").update(name).digest("hex").slice(0, 32)}`;

export function smChannel(machine: string, instanceId: string): string {
  let m = channelToken(machine);
  let i = channelToken(instanceId);
  const size = () => encoder.encode(`${SM_NAMESPACE}.${m}.${i}`).length;
  if (size() > MAX_SUBJECT_BYTES) {
    if (encoder.encode(i).length > LONG_TOKEN_BYTES) i = hashed(instanceId);
    if (size() > MAX_SUBJECT_BYTES) m = hashed(machine);
  }
  return `${SM_NAMESPACE}.${m}.${i}`;
}
