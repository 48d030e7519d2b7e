// ExecutionClient over the fetch seam: paths from the generated table, headers, retries, errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, ExecutionClient } from "../lib/client.js";
import { fakeApi } from "../testing/fake-api.js";

const FAST = { backoffMs: 1, maxBackoffMs: 2 };

test("path parameters are encoded, the token and version headers are sent", async () => {
  const api = fakeApi([
    ["GET", /^\/execution\/xcoms\//, () => ({ body: { key: "return_value", value: { n: 1 } } })],
  ]);
  const client = new ExecutionClient("http://api/", "tok-1", { ...FAST, fetch: api.fetch, apiVersion: "2026-11-01" });
  const value = await client.pullXCom({ dagId: "d", runId: "manual__2026-01-01T00:00:00+00:00", taskId: "t", mapIndex: 0 });
  assert.deepEqual(value, { n: 1 });
  const [call] = api.calls;
  assert.equal(call.path, "/execution/xcoms/d/manual__2026-01-01T00%3A00%3A00%2B00%3A00/t/return_value");
  assert.equal(call.query, "?map_index=0");
  assert.equal(call.headers.get("authorization"), "Bearer tok-1");
  assert.equal(call.headers.get("airlock-api-version"), "2026-11-01");
});

test("without a dated version no version header is sent (head)", async () => {
  const api = fakeApi([["GET", /^\/execution\/variables\//, () => ({ status: 404, body: { detail: "no" } })]]);
  const client = new ExecutionClient("http://api", "tok", { ...FAST, fetch: api.fetch, apiVersion: null });
  assert.equal(await client.getVariable("missing"), undefined);
  assert.equal(api.calls[0].headers.get("airlock-api-version"), null);
});

test("503 and connection errors are retried; the answer after them is returned", async () => {
  let attempts = 0;
  const api = fakeApi([
    ["PATCH", /\/state$/, () => (++attempts < 3 ? { status: 503, body: { detail: "busy" } } : { body: { state: "up_for_retry" } })],
  ]);
  let refused = 0;
  const flaky = async (input, init) => {
    if (refused++ === 0) throw new TypeError("fetch failed");
    return api.fetch(input, init);
  };
  const client = new ExecutionClient("http://api", "tok", { ...FAST, fetch: flaky });
  const reply = await client.finish("ti-1", { state: "failed", end_date: new Date().toISOString() });
  assert.deepEqual(reply, { state: "up_for_retry" });
  assert.equal(api.calls.length, 3);
});

test("a 4xx is raised at once with the problem's detail", async () => {
  const api = fakeApi([
    ["PATCH", /\/run$/, () => ({ status: 409, body: { status: 409, detail: "task instance ti-1 is success; only a queued task can start" } })],
  ]);
  const client = new ExecutionClient("http://api", "tok", { ...FAST, fetch: api.fetch });
  await assert.rejects(
    client.start("ti-1", { hostname: "h", pid: 1, start_date: new Date().toISOString() }),
    (error) => error instanceof ApiError && error.status === 409 && /only a queued task can start/.test(error.message),
  );
  assert.equal(api.calls.length, 1);
});

test("a heartbeat's refreshed token replaces the one in use", async () => {
  const api = fakeApi([["PUT", /\/heartbeat$/, () => ({ body: { keep_running: true, state: "running", token: "fresh" } })]]);
  const client = new ExecutionClient("http://api", "old", { ...FAST, fetch: api.fetch });
  await client.heartbeat("ti-1", { hostname: "h", pid: 1 });
  assert.equal(client.token, "fresh");
  const copy = client.withToken("other");
  assert.equal(copy.token, "other");
  assert.equal(client.token, "fresh");
});

test("a server older than the client is warned about once, by every client it made", async () => {
  const api = fakeApi([["PUT", /\/heartbeat$/, () => ({ body: { keep_running: true } })]], {
    "Airlock-API-Version": "2026-11-01",
  });
  const warnings = [];
  const client = new ExecutionClient("http://api", "tok", {
    ...FAST,
    fetch: api.fetch,
    apiVersion: "2026-11-21",
    onWarning: (message) => warnings.push(message),
  });
  await client.heartbeat("ti-1", { hostname: "h", pid: 1 });
  await client.withToken("task").heartbeat("ti-2", { hostname: "h", pid: 1 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /serves API version 2026-11-01 at most, the runner speaks 2026-11-21/);

  const same = new ExecutionClient("http://api", "tok", {
    ...FAST,
    fetch: api.fetch,
    apiVersion: "2026-11-01",
    onWarning: (message) => warnings.push(message),
  });
  await same.heartbeat("ti-3", { hostname: "h", pid: 1 });
  assert.equal(warnings.length, 1);
});
