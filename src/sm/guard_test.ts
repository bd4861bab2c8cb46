import assert from "node:assert/strict";
import fc from "fast-check";
import {
  evaluateGuard,
  formatGuard,
  type GuardExpr,
  GuardSyntaxError,
  MAX_GUARD_DEPTH,
  parseGuard,
} from "./guard.ts";

const evalText = (source: string, ctx: unknown) => evaluateGuard(parseGuard(source), ctx);

Deno.test("guard - the examples of rstmdb's README", () => {
  assert.equal(evalText("ctx.amount <= 1000", { amount: 999.5 }), true);
  assert.equal(evalText("ctx.amount <= 1000", { amount: 1001 }), false);
  assert.equal(
    evalText("ctx.approved && ctx.manager_id", { approved: true, manager_id: "m" }),
    true,
  );
  assert.equal(
    evalText("ctx.approved && ctx.manager_id", { approved: true, manager_id: "" }),
    false,
  );
  assert.equal(evalText("!ctx.cancelled", {}), true);
  assert.equal(evalText("ctx.items > 0", { items: 2 }), true);
});

Deno.test("guard - truthiness: null, false, 0, empty string, [] and {} are false", () => {
  for (const v of [null, false, 0, "", [], {}]) assert.equal(evalText("ctx.v", { v }), false);
  for (const v of [true, 1, -1, "x", [0], { a: 0 }]) assert.equal(evalText("ctx.v", { v }), true);
  assert.equal(evalText("ctx.missing.deeper", { missing: 5 }), false);
  assert.equal(evalText("ctx.missing == null", {}), true);
});

Deno.test("guard - ordering only on numbers, equality on any JSON value", () => {
  assert.equal(evalText('ctx.s > "a"', { s: "b" }), false);
  assert.equal(evalText("ctx.s >= 1", { s: "2" }), false);
  assert.equal(evalText('ctx.s == "b"', { s: "b" }), true);
  assert.equal(evalText("ctx.o == ctx.p", { o: { a: [1] }, p: { a: [1] } }), true);
  assert.equal(evalText("ctx.a.0 == 7", { a: [7] }), true);
  assert.equal(evalText("ctx.limit >= ctx.amount", { limit: 10, amount: 9 }), true);
});

Deno.test("guard - precedence: ! over && over ||, parentheses group", () => {
  assert.equal(evalText("ctx.t || ctx.f && ctx.f", { t: true, f: false }), true);
  assert.equal(evalText("(ctx.t || ctx.f) && ctx.f", { t: true, f: false }), false);
  assert.equal(evalText("!ctx.t || ctx.t", { t: true }), true);
  assert.equal(evalText("!(ctx.t && ctx.f)", { t: true, f: false }), true);
});

Deno.test("guard - errors carry the position; trailing input is refused", () => {
  const cases: [string, number][] = [
    ["ctx.a == 1 ctx.b", 11],
    ["ctx.a )", 6],
    ["ctx.a >", 7],
    ["ctx.", 4],
    ["amount > 1", 0],
    ["(ctx.a", 6],
    ["ctx.a == 'x'", 9],
    ["ctx.a &&", 8],
    ["", 0],
  ];
  for (const [source, position] of cases) {
    assert.throws(() => parseGuard(source), (e: unknown) => {
      assert.ok(e instanceof GuardSyntaxError, String(e));
      assert.equal(e.position, position, `${source}: ${e.message}`);
      assert.equal(e.code, "BAD_REQUEST");
      return true;
    });
  }
  const deep = "(".repeat(MAX_GUARD_DEPTH + 1) + "ctx.a" + ")".repeat(MAX_GUARD_DEPTH + 1);
  assert.throws(() => parseGuard(deep), /nested deeper/);
});

const segment = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/),
  fc.stringMatching(/^[0-9]{1,3}$/),
);
const path = fc.array(segment, { minLength: 1, maxLength: 3 });
const literal = fc.oneof(
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 8 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  fc.integer(),
);
const expr: fc.Arbitrary<GuardExpr> = fc.letrec<{ e: GuardExpr }>((tie) => ({
  e: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    path.map((p): GuardExpr => ({ kind: "truthy", path: p })),
    fc.record({
      kind: fc.constant("compare" as const),
      op: fc.constantFrom("==", "!=", ">", ">=", "<", "<=" as const),
      left: path,
      right: fc.oneof(
        literal.map((value) => ({ kind: "literal" as const, value })),
        path.map((p) => ({ kind: "field" as const, path: p })),
      ),
    }),
    tie("e").map((e): GuardExpr => ({ kind: "not", expr: e })),
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((items): GuardExpr => ({
      kind: "and",
      items,
    })),
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((items): GuardExpr => ({
      kind: "or",
      items,
    })),
  ),
})).e;

Deno.test("guard - property: every tree of the grammar prints and parses back to itself", () => {
  fc.assert(
    fc.property(expr, (e) => {
      // fast-check builds null-prototype records; compare plain JSON shapes.
      assert.deepEqual(parseGuard(formatGuard(e)), JSON.parse(JSON.stringify(e)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("guard - property: any input either parses or fails with a position inside it", () => {
  const alphabet = fc.constantFrom(...'ctx.ab01 ()!&|=<>"-etruflsn'.split(""));
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 30 }).map((cs) => cs.join("")), (s) => {
      try {
        parseGuard(s);
      } catch (e) {
        assert.ok(e instanceof GuardSyntaxError, `${JSON.stringify(s)} threw ${e}`);
        assert.ok(e.position >= 0 && e.position <= s.length);
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("guard - property: trailing garbage after a valid guard is an error at its start", () => {
  // None of these can continue a complete expression ("== 1" could, after a bare field).
  const garbage = fc.constantFrom("ctx.z", ")", "1", "true", "x", "!", "(ctx.a)");
  fc.assert(
    fc.property(expr, garbage, (e, tail) => {
      const text = formatGuard(e);
      assert.throws(() => parseGuard(`${text} ${tail}`), (err: unknown) => {
        assert.ok(err instanceof GuardSyntaxError);
        return err.position >= text.length;
      });
    }),
    { numRuns: 1000 },
  );
});
