// LogShipper: numbered batches, a failed batch is re-sent with the same number, lines are split.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BATCH_MAX_LINES, LogShipper, MAX_LINE_CHARS, RUNNER_PREFIX } from "../lib/logs.js";

test("batches are numbered and a failed batch is sent again with its number", async () => {
  const sent = [];
  let fail = true;
  const shipper = new LogShipper(
    async (batch) => {
      if (fail) {
        fail = false;
        throw new Error("the API is down");
      }
      sent.push(batch);
    },
    { tryNumber: 2, batchMs: 60_000 },
  );
  shipper.add("one\ntwo\r");
  assert.equal(await shipper.flush(), false);
  shipper.note("three");
  assert.equal(await shipper.flush(), true);
  assert.deepEqual(sent, [
    { try_number: 2, seq: 0, lines: ["one", "two"] },
    { try_number: 2, seq: 1, lines: [`${RUNNER_PREFIX}three`] },
  ]);
});

test("a long line is cut, and a full batch goes out without waiting", async () => {
  const sent = [];
  const shipper = new LogShipper(async (batch) => sent.push(batch), { tryNumber: 1, batchMs: 60_000 });
  shipper.add("x".repeat(MAX_LINE_CHARS + 5));
  await shipper.flush();
  assert.deepEqual(sent[0].lines.map((l) => l.length), [MAX_LINE_CHARS, 5]);
  for (let i = 0; i < BATCH_MAX_LINES; i++) shipper.add(`line ${i}`);
  await shipper.flushing;
  assert.equal(sent[1].lines.length, BATCH_MAX_LINES);
  assert.equal(sent[1].seq, 1);
});

test("lines go out on the batch timer", async () => {
  const sent = [];
  const shipper = new LogShipper(async (batch) => sent.push(batch), { tryNumber: 1, batchMs: 20 });
  shipper.add("soon");
  await new Promise((resolve) => setTimeout(resolve, 80));
  await shipper.flushing;
  assert.deepEqual(sent, [{ try_number: 1, seq: 0, lines: ["soon"] }]);
});
