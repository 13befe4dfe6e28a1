// Node's test runner over the package's pure parts: the clock against the vectors the Rust side
// passes too, the mutations a document's change becomes, and the derived ids of the import.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Clock, compareHlc, formatHlc, parseHlc } from "../src/hlc.js";
import { changeToDoc, mutationsFor, sameState } from "../src/replication.js";
import { uuidV5 } from "../src/storage-import.js";

const vectors = JSON.parse(readFileSync(new URL("../test/hlc-vectors.json", import.meta.url), "utf8"));

test("the clock reads, orders and advances as the shared vectors say", () => {
  for (const c of vectors.parse) {
    const read = parseHlc(c.raw);
    assert.deepEqual(read, { wallMs: c.wall_ms, counter: c.counter, node: c.node });
    assert.equal(formatHlc(read), c.raw);
  }
  for (const raw of vectors.invalid) assert.throws(() => parseHlc(raw), undefined, JSON.stringify(raw));
  const ordered: string[] = vectors.ordered;
  for (let i = 1; i < ordered.length; i++) assert.equal(compareHlc(ordered[i - 1], ordered[i]), -1, ordered[i]);
  for (const c of vectors.clocks) {
    const clock = new Clock(c.node);
    for (const step of c.steps) {
      const next = "tick" in step ? clock.tick(step.tick) : clock.observe(step.observe, step.now);
      assert.equal(next, step.expect, JSON.stringify(step));
    }
  }
});

test("a new record is one create at its first clock, then the fields written later", () => {
  const doc = {
    id: "r1",
    key: "k",
    value: 2,
    clocks: { key: "0000000001000-00000-a", value: "0000000002000-00000-a" },
    _deleted: false,
  };
  assert.deepEqual(mutationsFor("documents", undefined, doc), [
    { collection: "documents", record_id: "r1", op: "create", fields: { key: "k", value: 2 }, hlc: "0000000001000-00000-a" },
    { collection: "documents", record_id: "r1", op: "update", fields: { value: 2 }, hlc: "0000000002000-00000-a" },
  ]);
  assert.deepEqual(mutationsFor("documents", undefined, { ...doc, _deleted: true }), []);
});

test("a known record sends the fields whose clock moved, one mutation per clock, and its delete", () => {
  const before = { id: "q", text: "a", status: "draft", correct: "A", clocks: { text: "0000000000001-00000-a", status: "0000000000001-00000-a", correct: "0000000000001-00000-a" }, _deleted: false };
  const after = {
    ...before,
    text: "b",
    status: "approved",
    correct: "B",
    clocks: { text: "0000000003000-00000-a", status: "0000000003000-00000-a", correct: "0000000004000-00000-a", _deleted: "0000000005000-00000-a" },
    _deleted: true,
  };
  assert.deepEqual(
    mutationsFor("questions", before, after).map((m) => [m.op, m.hlc.slice(0, 13), Object.keys(m.fields ?? {}).sort()]),
    [
      ["update", "0000000003000", ["status", "text"]],
      ["update", "0000000004000", ["correct"]],
      ["delete", "0000000005000", []],
    ],
  );
  assert.deepEqual(mutationsFor("questions", before, before), []);
});

test("records compare by fields and clocks, whatever their key order; tombstones by clocks", () => {
  const a = changeToDoc({ collection: "documents", id: "d", op: "upsert", fields: { key: "k", value: { x: 1, y: 2 } }, clocks: { key: "1", value: "1" } });
  const b = { id: "d", clocks: { value: "1", key: "1" }, value: { y: 2, x: 1 }, key: "k", _deleted: false };
  assert.ok(sameState(a, b));
  assert.ok(!sameState(a, { ...b, value: { x: 1, y: 3 } }));
  assert.ok(!sameState(a, { ...b, clocks: { key: "1", value: "2" } }));
  const gone = changeToDoc({ collection: "documents", id: "d", op: "delete" });
  assert.ok(sameState(gone, { ...b, clocks: {}, _deleted: true }));
  assert.ok(!sameState(gone, a));
});

test("imported documents have ids derived from owner and key (UUID v5)", async () => {
  const one = await uuidV5("owner\u0000panier");
  assert.match(one, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(await uuidV5("owner\u0000panier"), one);
  assert.notEqual(await uuidV5("owner\u0000panier2"), one);
  // The RFC 9562 example: the DNS name space and "www.example.com".
  assert.equal(await uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
});

