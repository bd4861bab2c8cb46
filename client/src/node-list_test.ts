import assert from "node:assert/strict";
import { NodeList } from "./node-list.ts";

Deno.test("node list - the configured URLs in order first, then rounds of every node in random order", () => {
  const nodes = new NodeList(["ws://a", "ws://b", "ws://c"], () => 0);
  assert.deepEqual([nodes.next(), nodes.next(), nodes.next()], [
    "ws://a",
    "ws://b",
    "ws://c",
  ]);
  const round = [nodes.next(), nodes.next(), nodes.next()];
  assert.deepEqual(
    [...round].sort(),
    ["ws://a", "ws://b", "ws://c"],
    "each node once per round",
  );
});

Deno.test("node list - the advertised nodes replace the configured ones; none advertised keeps them", () => {
  const nodes = new NodeList("ws://a");
  nodes.advertised(["ws://n1", "ws://n2"]);
  assert.deepEqual([nodes.next(), nodes.next()].sort(), ["ws://n1", "ws://n2"]);
  nodes.advertised(undefined);
  assert.equal(nodes.next(), "ws://a");
  nodes.advertised([42]);
  assert.equal(nodes.next(), "ws://a", "a malformed list is ignored");
});
