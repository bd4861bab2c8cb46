import { Flag, type Frame, parseMeta } from "../shared/frame.ts";
import type { MessageMeta } from "./subscriptions.ts";

const decoder = new TextDecoder();

/** A message frame's meta and payload (JSON parsed, bytes copied out of the read buffer). */
export function decodeMessage(frame: Frame) {
  const meta = parseMeta<MessageMeta & { consumer?: string; attempt?: number }>(frame);
  const payload: unknown = frame.flags & Flag.Binary
    ? frame.data.slice()
    : JSON.parse(decoder.decode(frame.data));
  return { meta, payload };
}
