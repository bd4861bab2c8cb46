import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { literalNamespaceOf, parseChannel, parsePattern } from "../../client/shared/subject.ts";
import type { ConsumerConfig, StartFrom } from "../../client/shared/messages.ts";
import { parseStart } from "../core/start.ts";

/** What a client may send to create a consumer; everything but name and pattern has a default. */
export type ConsumerSpec = Partial<ConsumerConfig> & { name: string; pattern: string };

export const CONSUMER_DEFAULTS = {
  ackPolicy: "explicit",
  ackWaitMs: 30_000,
  maxDeliver: 5,
  maxInFlight: 1000,
} as const;

/** Where a consumer's dead letters go unless it names a channel. */
export const defaultDeadLetter = (name: string): string => `$sys.dlq.${name}`;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_MS = 24 * 3600_000;

const bad = (message: string) => new CatbusError(ErrorCode.BadRequest, message);

function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw bad(`"${field}" must be a whole number from ${min} to ${max}`);
  }
  return value as number;
}

/** Validates a consumer spec from the wire and fills in the defaults. */
export function parseConsumerSpec(input: unknown): ConsumerConfig {
  if (!input || typeof input !== "object" || Array.isArray(input)) {
    throw bad("a consumer is an object with at least name and pattern");
  }
  const spec = input as Record<string, unknown>;
  const name = spec.name;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw bad('consumer "name" must be 1 to 64 of A-Z a-z 0-9 _ - (e.g. "orders-worker")');
  }
  const pattern = spec.pattern;
  if (typeof pattern !== "string") throw bad('consumer "pattern" must be a channel pattern');
  parsePattern(pattern);
  if (literalNamespaceOf(pattern) === undefined) {
    throw bad(
      `consumer pattern "${pattern}" must start with a namespace name (e.g. "orders.>"): ` +
        "a consumer reads one namespace's stream",
    );
  }
  const ackPolicy = spec.ackPolicy ?? CONSUMER_DEFAULTS.ackPolicy;
  if (ackPolicy !== "none" && ackPolicy !== "explicit") {
    throw bad('"ackPolicy" must be "explicit" or "none"');
  }
  const backoff = spec.backoff ?? spec.backoffMs ?? [];
  if (!Array.isArray(backoff) || backoff.length > 32) {
    throw bad('"backoff" must be a list of at most 32 delays in ms');
  }
  const deadLetter = spec.deadLetter ?? defaultDeadLetter(name);
  if (typeof deadLetter !== "string") throw bad('"deadLetter" must be a channel name');
  parseChannel(deadLetter);
  return {
    name,
    pattern,
    from: parseStart({ pattern, from: spec.from as StartFrom }).from ?? "new",
    ackPolicy,
    ackWaitMs: wholeNumber(
      spec.ackWait ?? spec.ackWaitMs ?? CONSUMER_DEFAULTS.ackWaitMs,
      "ackWait",
      1,
      MAX_MS,
    ),
    maxDeliver: wholeNumber(
      spec.maxDeliver ?? CONSUMER_DEFAULTS.maxDeliver,
      "maxDeliver",
      0,
      1_000_000,
    ),
    backoffMs: backoff.map((d) => wholeNumber(d, "backoff", 0, MAX_MS)),
    maxInFlight: wholeNumber(
      spec.maxInFlight ?? CONSUMER_DEFAULTS.maxInFlight,
      "maxInFlight",
      1,
      100_000,
    ),
    deadLetter,
  };
}

/** True when two configs deliver the same way (the start position only matters at creation). */
export function sameDelivery(a: ConsumerConfig, b: ConsumerConfig): boolean {
  const { from: _a, ...restA } = a;
  const { from: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}
