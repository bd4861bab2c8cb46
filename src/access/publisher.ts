import type { Principal } from "../auth/grants.ts";
import { CatbusError, ErrorCode } from "../../client/shared/errors.ts";
import { jsonTooDeep } from "../core/json-depth.ts";
import { jsonTextProblem } from "../core/json-scan.ts";
import { RateLimiter } from "../core/rate-limiter.ts";
import type { ReplyHolder } from "../core/replies.ts";
import { checkPublish, checkReplyTo } from "./publish.ts";
import { namespaceOf } from "../../client/shared/subject.ts";

/** The publish limits every door applies (from `--max-payload`, `--max-json-depth`, …). */
export interface PublishLimits {
  maxPayload: number;
  maxJsonDepth: number;
  /** Publishes per second per connection (0 or absent = no limit). */
  maxPublishRate?: number;
}

/** One message as a door hands it to the access layer. */
export interface PublishRequest {
  channel: string;
  payload: Uint8Array;
  /** Raw bytes: no JSON checks. */
  binary?: boolean;
  headers?: Record<string, string>;
}

/** Refuses a payload above `--max-payload`; `where` names the item (a Bus batch's event). */
export function checkPayloadSize(bytes: number, maxPayload: number, where?: string): void {
  if (bytes <= maxPayload) return;
  throw new CatbusError(
    ErrorCode.TooLarge,
    `${where ? `${where}: ` : ""}payload of ${bytes} bytes exceeds the limit of ${maxPayload}`,
  );
}

/** A JSON payload must be UTF-8 JSON text no deeper than `--max-json-depth` (one scan). */
export function checkJsonPayload(payload: Uint8Array, maxDepth: number): void {
  const problem = jsonTextProblem(payload, maxDepth);
  if (problem === "utf8") {
    throw new CatbusError(
      ErrorCode.BadRequest,
      "payload is not valid UTF-8; send UTF-8 JSON text, or set the binary flag for raw bytes",
    );
  }
  if (problem === "depth") {
    throw new CatbusError(ErrorCode.BadRequest, jsonTooDeep("the payload", maxDepth));
  }
  if (problem) {
    throw new CatbusError(
      ErrorCode.BadRequest,
      "payload is not valid JSON; send JSON text, or set the binary flag for raw bytes",
    );
  }
}

/**
 * The publish side of one connection (a native session, a Bus request): its principal, the
 * reply permits of the requests it was given, and its publish rate. `authorize` applies the
 * rules every door obeys, in one order: channel and grants, rate, size, JSON, `reply_to`; what
 * passes is counted (the holder's meter).
 */
export class Publisher {
  readonly principal: Principal;
  readonly #replies: ReplyHolder;
  readonly #limits: PublishLimits;
  readonly #rate?: RateLimiter;

  constructor(principal: Principal, replies: ReplyHolder, limits: PublishLimits) {
    this.principal = principal;
    this.#replies = replies;
    this.#limits = limits;
    if (limits.maxPublishRate) this.#rate = new RateLimiter(limits.maxPublishRate, Date.now());
  }

  /**
   * Throws the refusal for the first rule `request` breaks. `payloadChecked`: the door already
   * checked the payload's size and JSON while parsing (a Bus body is scanned whole, each event
   * named in its refusal), so neither is done twice.
   */
  authorize(request: PublishRequest, payloadChecked = false): void {
    checkPublish(this.principal, request.channel, this.#replies);
    if (this.#rate && !this.#rate.take(Date.now())) {
      throw new CatbusError(
        ErrorCode.LimitExceeded,
        `more than ${this.#limits.maxPublishRate} publishes per second on this connection ` +
          "(--max-publish-rate); slow down or spread them over connections",
      );
    }
    if (!payloadChecked) {
      checkPayloadSize(request.payload.length, this.#limits.maxPayload);
      if (!request.binary) checkJsonPayload(request.payload, this.#limits.maxJsonDepth);
    }
    checkReplyTo(this.principal, request.headers);
    this.#replies.meter?.published(namespaceOf(request.channel), request.payload.length);
  }
}
