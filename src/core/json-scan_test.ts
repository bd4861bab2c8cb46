import assert from "node:assert/strict";
import { jsonTextProblem, scanObject } from "./json-scan.ts";

const isJsonText = (b: Uint8Array) => jsonTextProblem(b, 128) === undefined;

const encoder = new TextEncoder();

Deno.test("json-scan - accepts exactly what JSON.parse accepts", () => {
  const texts = [
    "1",
    "-0",
    "0.5",
    "1e2",
    "1E+2",
    "-1.5e-3",
    "01",
    "1.",
    ".5",
    "+1",
    '"a"',
    '"\\u00e9"',
    '"\\x"',
    '"\t"',
    "[]",
    "[1,]",
    "[1,2]",
    "{}",
    '{"a":1}',
    '{"a":1,}',
    '{"a" 1}',
    "{1:2}",
    "true",
    "tru",
    "null",
    "nul",
    '  {"a" : [ 1 , {"b":null} ] }  ',
    '{"a":1}x',
    '"é"',
    "",
    "  ",
    "[",
    '{"a":',
    '"abc',
    "-",
    "1e",
    "[1 2]",
    "12345678901234567890",
    '"\\ud83d"',
  ];
  for (const text of texts) {
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    assert.equal(isJsonText(encoder.encode(text)), parses, text);
  }
});

Deno.test("json-scan - says which problem: UTF-8, depth or syntax", () => {
  assert.equal(jsonTextProblem(new Uint8Array([0x22, 0xff, 0x22]), 8), "utf8");
  assert.equal(jsonTextProblem(new Uint8Array([0xff]), 8), "utf8");
  assert.equal(jsonTextProblem(encoder.encode("[[[1]]]"), 3), undefined);
  assert.equal(jsonTextProblem(encoder.encode("[[[[1]]]]"), 3), "depth");
  assert.equal(jsonTextProblem(encoder.encode("[1,"), 3), "syntax");
});

Deno.test("json-scan - refuses invalid UTF-8 and finds members without parsing values", () => {
  assert.equal(isJsonText(new Uint8Array([0x22, 0xff, 0x22])), false);
  assert.equal(isJsonText(new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22])), false, "a surrogate");
  assert.equal(isJsonText(new Uint8Array([0x22, 0xc0, 0x80, 0x22])), false, "overlong");
  const bytes = encoder.encode('{"subject":"a.b", "payload" : {"big":12345678901234567890} }');
  const { members, end } = scanObject(bytes, 0, 0, 128);
  assert.equal(end, bytes.length);
  const payload = members.find((m) => m.name === "payload")!;
  assert.equal(
    new TextDecoder().decode(bytes.subarray(payload.start, payload.end)),
    '{"big":12345678901234567890}',
  );
});
