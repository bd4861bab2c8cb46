import { SmError, SmErrorCode } from "./errors.ts";

/**
 * Guard expressions, evaluated against an instance's ctx:
 *
 *   or      := and ("||" and)*
 *   and     := unary ("&&" unary)*
 *   unary   := "!" unary | primary
 *   primary := "(" or ")" | field [op operand]
 *   field   := "ctx" ("." segment)+        segment: [A-Za-z_][A-Za-z0-9_]* or digits
 *   op      := "==" | "!=" | ">" | ">=" | "<" | "<="
 *   operand := literal | field             (field-to-field: a Catbus extension)
 *   literal := true | false | null | "json string" | json number
 *
 * The whole input must be consumed: trailing input is an error (rstmdb ignores it). Guards are
 * parsed once, when a machine is put, and the tree is kept with the definition.
 */
export type CompareOp = "==" | "!=" | ">" | ">=" | "<" | "<=";
export type Operand = { kind: "literal"; value: Literal } | { kind: "field"; path: string[] };
export type Literal = boolean | null | string | number;
export type GuardExpr =
  | { kind: "or"; items: GuardExpr[] }
  | { kind: "and"; items: GuardExpr[] }
  | { kind: "not"; expr: GuardExpr }
  | { kind: "truthy"; path: string[] }
  | { kind: "compare"; op: CompareOp; left: string[]; right: Operand };

/** Deeper nesting is refused so that a hostile guard cannot exhaust the stack. */
export const MAX_GUARD_DEPTH = 64;

/** A guard that does not parse; `position` is the 0-based character offset of the problem. */
export class GuardSyntaxError extends SmError {
  readonly position: number;
  constructor(source: string, position: number, problem: string) {
    super(
      SmErrorCode.BadRequest,
      `guard "${source}": ${problem} at position ${position}`,
      { details: { guard: source, position } },
    );
    this.name = "GuardSyntaxError";
    this.position = position;
  }
}

const OPS: CompareOp[] = ["==", "!=", ">=", "<=", ">", "<"];
const SEGMENT = /[A-Za-z_][A-Za-z0-9_]*|[0-9]+/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// JSON string syntax: raw control characters must be escaped.
// deno-lint-ignore no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;

export function parseGuard(source: string): GuardExpr {
  let pos = 0;
  let depth = 0;
  const fail = (problem: string, at = pos): never => {
    throw new GuardSyntaxError(source, at, problem);
  };
  const skipSpace = () => {
    while (pos < source.length && /\s/.test(source[pos])) pos++;
  };
  const eat = (text: string): boolean => {
    skipSpace();
    if (!source.startsWith(text, pos)) return false;
    pos += text.length;
    return true;
  };
  const sticky = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(source);
    if (!m) return undefined;
    pos += m[0].length;
    return m[0];
  };
  const describe = () => pos >= source.length ? "end of input" : `"${source[pos]}"`;

  const field = (): string[] => {
    skipSpace();
    const start = pos;
    const word = sticky(WORD);
    if (word !== "ctx") {
      fail(`expected a field such as ctx.amount, found ${word ? `"${word}"` : describe()}`, start);
    }
    const path: string[] = [];
    while (source[pos] === ".") {
      pos++;
      const segment = sticky(SEGMENT);
      if (segment === undefined) fail(`expected a field name after "."`);
      path.push(segment!);
    }
    if (!path.length) fail(`expected "." and a field name after ctx`);
    return path;
  };
  const operand = (): Operand => {
    skipSpace();
    const start = pos;
    if (source.startsWith("ctx", pos) && !/[A-Za-z0-9_]/.test(source[pos + 3] ?? "")) {
      return { kind: "field", path: field() };
    }
    const str = sticky(STRING);
    if (str !== undefined) return { kind: "literal", value: JSON.parse(str) };
    const num = sticky(NUMBER);
    if (num !== undefined) {
      const value = Number(num);
      if (!Number.isFinite(value)) fail(`number ${num} is out of range`, start);
      return { kind: "literal", value };
    }
    const word = sticky(WORD);
    if (word === "true" || word === "false") return { kind: "literal", value: word === "true" };
    if (word === "null") return { kind: "literal", value: null };
    return fail(
      `expected a value (true, false, null, "string", number or ctx.field), found ${
        word ? `"${word}"` : describe()
      }`,
      start,
    );
  };
  const primary = (): GuardExpr => {
    skipSpace();
    if (eat("(")) {
      const inner = or();
      if (!eat(")")) fail(`expected ")", found ${describe()}`);
      return inner;
    }
    const left = field();
    skipSpace();
    const op = OPS.find((o) => source.startsWith(o, pos));
    if (!op) return { kind: "truthy", path: left };
    pos += op.length;
    return { kind: "compare", op, left, right: operand() };
  };
  const unary = (): GuardExpr => {
    if (++depth > MAX_GUARD_DEPTH) fail(`nested deeper than ${MAX_GUARD_DEPTH} levels`);
    skipSpace();
    // "!=" cannot start an expression, so a "!" here is always negation.
    const result: GuardExpr = eat("!") ? { kind: "not", expr: unary() } : primary();
    depth--;
    return result;
  };
  const chain = (kind: "and" | "or", sep: string, next: () => GuardExpr): GuardExpr => {
    const items = [next()];
    while (eat(sep)) items.push(next());
    return items.length === 1 ? items[0] : { kind, items };
  };
  const and = () => chain("and", "&&", unary);
  const or = (): GuardExpr => chain("or", "||", and);

  const expr = or();
  skipSpace();
  if (pos < source.length) fail(`unexpected ${describe()} after a complete expression`);
  return expr;
}

/** A guard as canonical text; `parseGuard(formatGuard(e))` gives back `e`. */
export function formatGuard(e: GuardExpr): string {
  const field = (path: string[]) => `ctx.${path.join(".")}`;
  const inner = (x: GuardExpr, parent: "or" | "and" | "not") => {
    // Same-kind nesting keeps its parentheses, so the tree shape survives a round trip.
    const needsParens = x.kind === "or" || (x.kind === "and" && parent !== "or");
    return needsParens ? `(${formatGuard(x)})` : formatGuard(x);
  };
  switch (e.kind) {
    case "or":
      return e.items.map((x) => inner(x, "or")).join(" || ");
    case "and":
      return e.items.map((x) => inner(x, "and")).join(" && ");
    case "not":
      return `!${inner(e.expr, "not")}`;
    case "truthy":
      return field(e.path);
    case "compare": {
      const right = e.right.kind === "field" ? field(e.right.path) : JSON.stringify(e.right.value);
      return `${field(e.left)} ${e.op} ${right}`;
    }
  }
}

/** Missing paths (and paths through non-objects) read as null. */
export function lookup(ctx: unknown, path: string[]): unknown {
  let v = ctx;
  for (const segment of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, segment)) return null;
    v = (v as Record<string, unknown>)[segment];
  }
  return v;
}

/** null, false, 0, "", [] and {} are false; everything else is true. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length &&
    ka.every((k) =>
      Object.hasOwn(b, k) &&
      equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
}

function compare(op: CompareOp, a: unknown, b: unknown): boolean {
  if (op === "==") return equal(a, b);
  if (op === "!=") return !equal(a, b);
  // Ordering is defined on numbers only; anything else compares false.
  if (typeof a !== "number" || typeof b !== "number") return false;
  switch (op) {
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
  }
}

export function evaluateGuard(e: GuardExpr, ctx: unknown): boolean {
  switch (e.kind) {
    case "or":
      return e.items.some((x) => evaluateGuard(x, ctx));
    case "and":
      return e.items.every((x) => evaluateGuard(x, ctx));
    case "not":
      return !evaluateGuard(e.expr, ctx);
    case "truthy":
      return truthy(lookup(ctx, e.path));
    case "compare": {
      const right = e.right.kind === "field" ? lookup(ctx, e.right.path) : e.right.value;
      return compare(e.op, lookup(ctx, e.left), right);
    }
  }
}
