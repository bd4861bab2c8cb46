import assert from "node:assert/strict";
import { parseGoDuration } from "./units.ts";

Deno.test("units - Go duration text as time.Duration.String() writes it", () => {
  const cases: [string, number | undefined][] = [
    ["0s", 0],
    ["0", 0],
    ["100us", 0.1],
    ["100µs", 0.1],
    ["1.5s", 1500],
    ["1m0s", 60_000],
    ["1m30s", 90_000],
    ["2h0m0s", 7_200_000],
    ["500ms", 500],
    ["-5s", -5000],
    ["", undefined],
    ["5", undefined],
    ["5d", undefined],
    ["1m x", undefined],
    ["s", undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
});
