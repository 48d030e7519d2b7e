// TaskRun: the calls one try makes, how a thrown error maps to an outcome, console capture.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ExecutionClient } from "../lib/client.js";
import { AirlockFailException, AirlockSkipException } from "../lib/errors.js";
import { TaskRun, findTask, summary } from "../lib/task-run.js";
import { fakeApi } from "../testing/fake-api.js";

const quiet = { info() {}, warn() {}, error() {} };

function workload(taskId, extra = {}) {
  return {
    ti: { id: `ti-${taskId}`, dag_id: "mixed", run_id: "r1", task_id: taskId, try_number: 1, max_tries: 1, queue: "node" },
    token: `task-token-${taskId}`,
    bundle: "dags",
    relative_fileloc: "mixed.py",
    dag_version_id: 1,
    dag_run: { dag_id: "mixed", run_id: "r1", run_type: "manual", state: "running", conf: { who: "you" } },
    ...extra,
  };
}

function server({ keepRunning = true } = {}) {
  return fakeApi([
    ["PATCH", /\/run$/, () => ({ body: { dag_run: workload("x").dag_run, try_number: 1, max_tries: 1 } })],
    ["PUT", /\/heartbeat$/, () => ({ body: { keep_running: keepRunning, state: keepRunning ? "running" : "success" } })],
    ["GET", /^\/execution\/xcoms\/mixed\/r1\/extract\/return_value$/, () => ({ body: { key: "return_value", value: [1, 2, 3] } })],
    ["PUT", /\/xcoms\//, () => ({ status: 204 })],
    ["POST", /\/logs$/, () => ({ status: 204 })],
    ["PATCH", /\/state$/, ({ body }) => ({ body: { state: body.state === "failed" && !body.no_retry ? "up_for_retry" : body.state } })],
  ]);
}

async function runOne(tasks, taskId, api = server(), extra = {}) {
  const client = new ExecutionClient("http://api", `task-token-${taskId}`, { fetch: api.fetch, backoffMs: 1 });
  const config = { tasks, hostname: "host", heartbeatMs: 10, logBatchMs: 5, reportPatienceMs: 1000, log: quiet };
  const run = new TaskRun(workload(taskId, extra), client, config);
  await run.run();
  const conversation = api.calls.filter((c) => !c.path.endsWith("/heartbeat")).map((c) => `${c.method} ${c.path}`);
  return { run, api, conversation };
}

test("a task reads an upstream XCom, pushes one, logs, returns a value and succeeds", async () => {
  const tasks = {
    async total({ ti, dagRun, xcomPull, xcomPush }) {
      const numbers = await xcomPull("extract");
      console.log("adding", numbers, "for", dagRun.conf.who, "try", ti.tryNumber);
      await xcomPush("count", numbers.length);
      return numbers.reduce((a, b) => a + b, 0);
    },
  };
  const { run, api, conversation } = await runOne(tasks, "total");
  assert.deepEqual(conversation, [
    "PATCH /execution/task-instances/ti-total/run",
    "GET /execution/xcoms/mixed/r1/extract/return_value",
    "PUT /execution/task-instances/ti-total/xcoms/count",
    "PUT /execution/task-instances/ti-total/xcoms/return_value",
    "POST /execution/task-instances/ti-total/logs",
    "PATCH /execution/task-instances/ti-total/state",
  ]);
  const body = (path) => api.calls.find((c) => c.path.endsWith(path)).body;
  assert.deepEqual(body("/xcoms/return_value"), { key: "return_value", value: 6 });
  assert.deepEqual(body("/logs"), { try_number: 1, seq: 0, lines: ["adding [ 1, 2, 3 ] for you try 1"] });
  assert.equal(body("/state").state, "success");
  assert.ok(api.calls.every((c) => c.headers.get("authorization") === "Bearer task-token-total"));
  assert.equal(run.reported, true);
});

test("a thrown error is reported failed with its summary; the server makes it up_for_retry", async () => {
  const tasks = { boom: () => { throw new RangeError("out of range on purpose"); } };
  const { api } = await runOne(tasks, "boom");
  const state = api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.equal(state.state, "failed");
  assert.equal(state.error, "RangeError: out of range on purpose");
  assert.equal(state.no_retry, false);
  const lines = api.calls.filter((c) => c.path.endsWith("/logs")).flatMap((c) => c.body.lines);
  assert.ok(lines.includes("Task failed with exception"), lines);
});

test("AirlockFailException fails without retry; AirlockSkipException skips", async () => {
  const tasks = {
    stop: () => { throw new AirlockFailException("hopeless"); },
    skip: async () => { throw new AirlockSkipException("nothing to do"); },
  };
  const failed = (await runOne(tasks, "stop")).api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.deepEqual([failed.state, failed.no_retry], ["failed", true]);
  const skipped = (await runOne(tasks, "skip")).api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.equal(skipped.state, "skipped");
});

test("a missing task function fails the try, naming what to export", async () => {
  const state = (await runOne({}, "absent")).api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.match(state.error, /export a function named 'absent' \(or 'mixed\.absent'\)/);
});

test("a return value JSON cannot carry fails the try", async () => {
  const state = (await runOne({ big: () => 10n }, "big")).api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.match(state.error, /the return value is not JSON-serializable/);
});

test("execution_timeout_s aborts the task's signal and fails the try", async () => {
  let aborted = false;
  const tasks = {
    slow: ({ signal }) =>
      new Promise((resolve) => {
        signal.addEventListener("abort", () => { aborted = true; });
        setTimeout(resolve, 5_000).unref();
      }),
  };
  const state = (await runOne(tasks, "slow", server(), { execution_timeout_s: 0.05 })).api.calls.find((c) => c.path.endsWith("/state")).body;
  assert.equal(state.error, "Error: the task timed out after 0.05 s");
  assert.equal(aborted, true);
});

test("when the heartbeat says stop, the task is aborted and nothing is reported", async () => {
  const tasks = { cleared: ({ signal }) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))) };
  const { run, conversation } = await runOne(tasks, "cleared", server({ keepRunning: false }));
  assert.equal(run.reported, false);
  assert.match(run.takenAway, /success on the server/);
  assert.ok(!conversation.some((c) => c.endsWith("/state")), conversation);
});

test("console output of tasks running at once goes to each task's own log", async () => {
  const api = server();
  const chatty = async ({ ti }) => {
    for (let i = 0; i < 3; i++) {
      console.log(`${ti.taskId} ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  await Promise.all([runOne({ a: chatty }, "a", api), runOne({ b: chatty }, "b", api)]);
  for (const id of ["a", "b"]) {
    const lines = api.calls.filter((c) => c.path === `/execution/task-instances/ti-${id}/logs`).flatMap((c) => c.body.lines);
    assert.deepEqual(lines, [`${id} 0`, `${id} 1`, `${id} 2`]);
  }
});

test("findTask prefers dag_id.task_id over task_id; summary names the error", () => {
  const plain = () => "plain";
  const qualified = () => "qualified";
  assert.equal(findTask({ t: plain, "d.t": qualified }, "d", "t"), qualified);
  assert.equal(findTask({ t: plain, "d.t": qualified }, "other", "t"), plain);
  assert.equal(findTask({ t: "not a function" }, "d", "t"), undefined);
  assert.equal(summary(new TypeError("bad")), "TypeError: bad");
  assert.equal(summary("a string"), "thrown value: a string");
});
