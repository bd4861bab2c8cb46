/**
 * CORS as the original's middleware does it: on every response of the Bus listener (event
 * streams included), so pages on other origins can publish, subscribe and ack.
 */
export const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers":
    "x-bus-event-id, x-bus-event-created-at, x-bus-event-index, x-bus-consumer-id",
};

/** The answer to a preflight `OPTIONS`. */
export const PREFLIGHT_HEADERS: Record<string, string> = {
  "access-control-allow-methods": "GET, POST, PUT, OPTIONS",
  "access-control-allow-headers":
    "authorization, content-type, last-event-id, x-bus-event-id, x-bus-event-created-at, " +
    "x-bus-event-index, x-bus-consumer-id",
  "access-control-max-age": "86400",
};
