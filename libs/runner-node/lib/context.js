// What a task function receives, and how its console output becomes its log.
//
// Tasks run in the runner's own process, several at a time, so console output cannot be told
// apart by file descriptor as the Python worker does. Instead each task runs inside an
// AsyncLocalStorage scope holding its log: `console.log` and friends, called from the task or
// from anything it awaits, append to that task's log; outside any task they print as usual.
// @ts-check

import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";

/** @typedef {import("./api.generated.js").DagRunInfo} DagRunInfo */
/** @typedef {import("./api.generated.js").TaskInstanceRef} TaskInstanceRef */
/** @typedef {import("./api.generated.js").TaskRunContext} TaskRunContext */
/** @typedef {import("./api.generated.js").ConnectionInfo} ConnectionInfo */
/** @typedef {import("./client.js").ExecutionClient} ExecutionClient */

/** @type {AsyncLocalStorage<{add: (text: string) => void}>} */
export const currentLog = new AsyncLocalStorage();

const CAPTURED = /** @type {const} */ (["log", "info", "warn", "error", "debug"]);
let captured = false;

/** Route console output made inside a task to that task's log (idempotent). */
export function captureConsole() {
  if (captured) return;
  captured = true;
  for (const method of CAPTURED) {
    const original = console[method].bind(console);
    console[method] = (/** @type {any[]} */ ...args) => {
      const log = currentLog.getStore();
      if (log) log.add(format(...args));
      else original(...args);
    };
  }
}

/**
 * @typedef {object} TaskInstanceInfo
 * @property {string} id
 * @property {string} dagId
 * @property {string} runId
 * @property {string} taskId
 * @property {number} mapIndex -1 unless the task is mapped
 * @property {number} tryNumber
 * @property {number} maxTries
 * @property {string} queue
 */

/**
 * @typedef {object} DagRun
 * @property {string} dagId
 * @property {string} runId
 * @property {string} runType
 * @property {string} state
 * @property {Date | null} logicalDate
 * @property {Date | null} dataIntervalStart
 * @property {Date | null} dataIntervalEnd
 * @property {Date | null} runAfter
 * @property {Date | null} startDate
 * @property {Record<string, any>} conf
 */

/**
 * @typedef {object} XComRef
 * @property {string} [key="return_value"]
 * @property {string} [dagId] another DAG of the same bundle (default: this task's DAG)
 * @property {string} [runId] another run (default: this task's run)
 * @property {number} [mapIndex] one instance of a mapped task (default: the list of all)
 */

/**
 * The argument of every task function.
 * @typedef {object} TaskContext
 * @property {TaskInstanceInfo} ti
 * @property {DagRun} dagRun
 * @property {AbortSignal} signal aborted when the task must stop (timed out, cleared, the runner stops)
 * @property {(taskId: string, ref?: XComRef) => Promise<any>} xcomPull an upstream XCom (undefined when there is none)
 * @property {(key: string, value: unknown) => Promise<void>} xcomPush push a JSON value under `key`
 * @property {(key: string) => Promise<string | undefined>} getVariable
 * @property {(connId: string) => Promise<ConnectionInfo | undefined>} getConnection
 * @property {(...args: any[]) => void} log one line to the task's log
 */

/** @param {string | null | undefined} value */
function dateOf(value) {
  return value ? new Date(value) : null;
}

/**
 * @param {TaskInstanceRef} ti
 * @param {TaskRunContext} run what starting the task answered
 * @param {ExecutionClient} client holding the task's token
 * @param {AbortSignal} signal
 * @param {{add: (text: string) => void}} log
 * @returns {TaskContext}
 */
export function makeContext(ti, run, client, signal, log) {
  const dagRun = run.dag_run;
  return {
    ti: Object.freeze({
      id: ti.id,
      dagId: ti.dag_id,
      runId: ti.run_id,
      taskId: ti.task_id,
      mapIndex: ti.map_index ?? -1,
      tryNumber: run.try_number,
      maxTries: run.max_tries,
      queue: ti.queue ?? "default",
    }),
    dagRun: Object.freeze({
      dagId: dagRun.dag_id,
      runId: dagRun.run_id,
      runType: dagRun.run_type,
      state: dagRun.state,
      logicalDate: dateOf(dagRun.logical_date),
      dataIntervalStart: dateOf(dagRun.data_interval_start),
      dataIntervalEnd: dateOf(dagRun.data_interval_end),
      runAfter: dateOf(dagRun.run_after),
      startDate: dateOf(dagRun.start_date),
      conf: dagRun.conf ?? {},
    }),
    signal,
    xcomPull: (taskId, ref = {}) =>
      client.pullXCom({
        dagId: ref.dagId ?? ti.dag_id,
        runId: ref.runId ?? ti.run_id,
        taskId,
        key: ref.key,
        mapIndex: ref.mapIndex,
      }),
    xcomPush: (key, value) => client.pushXCom(ti.id, key, jsonValue(value, `XCom '${key}'`)),
    getVariable: (key) => client.getVariable(key),
    getConnection: (connId) => client.getConnection(connId),
    log: (...args) => log.add(format(...args)),
  };
}

/**
 * The value as JSON will carry it; a value JSON cannot carry is an error naming it.
 * @param {unknown} value
 * @param {string} what
 * @returns {unknown}
 */
export function jsonValue(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${what} is not JSON-serializable: ${/** @type {Error} */ (error).message}`);
  }
  if (text === undefined) {
    throw new TypeError(`${what} is not JSON-serializable: got ${typeof value}`);
  }
  return JSON.parse(text);
}
