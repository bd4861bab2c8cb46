import { ErrorCode, isCatbusError } from "../../../client/shared/errors.ts";
import { readBody } from "../../transport/http-body.ts";
import { HTTP_STATUS } from "../http-status.ts";
import { WholeAnswer } from "../../transport/http-response.ts";
import type { HttpRequest } from "../../transport/http-request.ts";

/** A refusal in FastAPI's shape: `{"detail": …}` with the status and headers the original sends. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;

  constructor(status: number, detail: unknown, headers: Record<string, string> = {}) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.body = { detail };
    this.headers = headers;
  }
}

/** 401 as OAuth2PasswordBearer answers it (FastAPI adds the challenge header). */
export const unauthorized = (detail: string): HttpError =>
  new HttpError(401, detail, { "www-authenticate": "Bearer" });

export const forbidden = (detail: string): HttpError => new HttpError(403, detail);
export const notFound = (detail: string): HttpError => new HttpError(404, detail);
export const badRequest = (detail: string): HttpError => new HttpError(400, detail);

const JSON_FIELDS = { "content-type": "application/json" };
const NO_FIELDS = {};

/** A JSON answer from its text (a 204 has no body, hence no content-type). */
export function jsonText(
  status: number,
  text: string | null,
  headers: Record<string, string> = NO_FIELDS,
): WholeAnswer {
  if (status === 204) return new WholeAnswer(status, null, headers);
  return new WholeAnswer(
    status,
    text,
    headers === NO_FIELDS ? JSON_FIELDS : { ...JSON_FIELDS, ...headers },
  );
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  jsonText(status, status === 204 ? null : JSON.stringify(body), headers);

/** The status of a Catbus error as this door answers it: a refused value is 422, as FastAPI's. */
const STATUS: Record<string, number> = { ...HTTP_STATUS, [ErrorCode.BadRequest]: 422 };

/**
 * The response for anything a handler threw: its own refusal, a Catbus error in the table above
 * (its client message as the detail), 413 in the original's body-limit shape, else 500 in the
 * original's shape (the cause goes to the log, never to the client).
 */
export function errorResponse(e: unknown, log: (error: unknown) => void): WholeAnswer {
  if (e instanceof HttpError) return json(e.status, e.body, e.headers);
  if (isCatbusError(e)) {
    if (e.code === ErrorCode.TooLarge && /request body/.test(e.message)) {
      return json(413, {
        error: "PAYLOAD_TOO_LARGE",
        message: "request body exceeds configured limit",
      });
    }
    const status = STATUS[e.code];
    if (status) return json(status, { detail: e.clientMessage });
  }
  log(e);
  return json(500, { error: "INTERNAL_ERROR", message: "An internal error occurred" });
}

/** One item of a 422 body, as pydantic reports it. */
interface Problem {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
}

const decoder = new TextDecoder();

/** The request's JSON body (422 `json_invalid` when it is not JSON, 413 above `limit`). */
export async function readJson(request: HttpRequest, limit: number): Promise<unknown> {
  const text = decoder.decode(await readBody(request, limit));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(422, [{
      type: "json_invalid",
      loc: ["body", 0],
      msg: "JSON decode error",
      input: {},
      ctx: { error: (e as Error).message },
    }]);
  }
}

/** The request's `application/x-www-form-urlencoded` body (the OAuth2 password form). */
export async function readForm(request: HttpRequest, limit: number): Promise<URLSearchParams> {
  return new URLSearchParams(decoder.decode(await readBody(request, limit)));
}

type Obj = Record<string, unknown>;

/**
 * Reads a request body's fields and collects every problem (FastAPI reports them all at once),
 * then `done()` throws the 422. Each reader returns undefined when the field is absent or bad.
 */
export class Fields {
  readonly #body: Obj;
  readonly #loc: (string | number)[];
  readonly #problems: Problem[];

  constructor(body: unknown, loc: (string | number)[] = ["body"], problems: Problem[] = []) {
    this.#loc = loc;
    this.#problems = problems;
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      this.#problems.push({
        type: "model_attributes_type",
        loc,
        msg: "Input should be a valid dictionary or object to extract fields from",
        input: body,
      });
      this.#body = {};
    } else this.#body = body as Obj;
  }

  has(name: string): boolean {
    return this.#body[name] !== undefined && this.#body[name] !== null;
  }

  problem(name: string | number, type: string, msg: string, input?: unknown): undefined {
    this.#problems.push({
      type,
      loc: [...this.#loc, name],
      msg,
      input: input === undefined ? this.#body[name as string] : input,
    });
    return undefined;
  }

  #missing(name: string, required: boolean) {
    if (this.has(name)) return false;
    if (required && this.#body[name] === undefined) {
      this.problem(name, "missing", "Field required", this.#body);
    }
    return true;
  }

  str(
    name: string,
    o: { required?: boolean; min?: number; max?: number; pattern?: RegExp; what?: string } = {},
  ): string | undefined {
    if (this.#missing(name, o.required ?? false)) return undefined;
    const v = this.#body[name];
    if (typeof v !== "string") {
      return this.problem(name, "string_type", "Input should be a valid string");
    }
    if (o.min !== undefined && v.length < o.min) {
      return this.problem(
        name,
        "string_too_short",
        `String should have at least ${o.min} character${o.min === 1 ? "" : "s"}`,
      );
    }
    if (o.max !== undefined && v.length > o.max) {
      return this.problem(
        name,
        "string_too_long",
        `String should have at most ${o.max} characters`,
      );
    }
    if (o.pattern && !o.pattern.test(v)) {
      return this.problem(
        name,
        "string_pattern_mismatch",
        o.what ?? `String should match pattern '${o.pattern.source}'`,
      );
    }
    return v;
  }

  bool(name: string): boolean | undefined {
    if (this.#missing(name, false)) return undefined;
    const v = this.#body[name];
    if (typeof v !== "boolean") {
      return this.problem(name, "bool_type", "Input should be a valid boolean");
    }
    return v;
  }

  int(name: string, o: { min?: number; max?: number; gt?: number } = {}): number | undefined {
    if (this.#missing(name, false)) return undefined;
    const v = this.#body[name];
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      return this.problem(name, "int_type", "Input should be a valid integer");
    }
    if (o.gt !== undefined && v <= o.gt) {
      return this.problem(name, "greater_than", `Input should be greater than ${o.gt}`);
    }
    if (o.min !== undefined && v < o.min) {
      return this.problem(
        name,
        "greater_than_equal",
        `Input should be greater than or equal to ${o.min}`,
      );
    }
    if (o.max !== undefined && v > o.max) {
      return this.problem(
        name,
        "less_than_equal",
        `Input should be less than or equal to ${o.max}`,
      );
    }
    return v;
  }

  /** An object (`dict[str, Any]`). */
  obj(name: string, o: { required?: boolean } = {}): Obj | undefined {
    if (this.#missing(name, o.required ?? false)) return undefined;
    const v = this.#body[name];
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      return this.problem(name, "dict_type", "Input should be a valid dictionary");
    }
    return v as Obj;
  }

  /** `dict[str, str]`. */
  strings(name: string): Record<string, string> | undefined {
    const v = this.obj(name);
    if (!v) return undefined;
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== "string") {
        this.#problems.push({
          type: "string_type",
          loc: [...this.#loc, name, k],
          msg: "Input should be a valid string",
          input: s,
        });
        return undefined;
      }
    }
    return v as Record<string, string>;
  }

  list(
    name: string,
    o: { required?: boolean; min?: number; max?: number } = {},
  ): unknown[] | undefined {
    if (this.#missing(name, o.required ?? false)) return undefined;
    const v = this.#body[name];
    if (!Array.isArray(v)) return this.problem(name, "list_type", "Input should be a valid list");
    if (o.min !== undefined && v.length < o.min) {
      return this.problem(
        name,
        "too_short",
        `List should have at least ${o.min} item${
          o.min === 1 ? "" : "s"
        } after validation, not ${v.length}`,
      );
    }
    if (o.max !== undefined && v.length > o.max) {
      return this.problem(
        name,
        "too_long",
        `List should have at most ${o.max} items after validation, not ${v.length}`,
      );
    }
    return v;
  }

  /** The fields of a nested object, reporting into the same list. */
  nested(value: unknown, ...loc: (string | number)[]): Fields {
    return new Fields(value, [...this.#loc, ...loc], this.#problems);
  }

  get ok(): boolean {
    return this.#problems.length === 0;
  }

  /** Throws the 422 when anything was wrong. */
  done(): void {
    if (this.#problems.length) throw new HttpError(422, this.#problems);
  }
}
