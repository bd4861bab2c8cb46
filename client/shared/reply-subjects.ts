import { namespaceOf } from "./subject.ts";

/** The header naming where a request's reply goes (Bus: `response_subject`). */
export const REPLY_TO_HEADER = "reply_to";

/** Reply subjects live here: native `_inbox.<clientId>.…` and Bus `_bus_.<id>` inboxes. */
const REPLY_NAMESPACES: readonly string[] = ["_inbox", "_bus_"];

export const isReplySubject = (channel: string): boolean =>
  REPLY_NAMESPACES.includes(namespaceOf(channel));
