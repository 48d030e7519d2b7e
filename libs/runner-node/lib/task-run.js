// One task try, from its workload to its reported outcome, with the workload's own task token.
//
// The same conversation the Python worker has (services/worker/src/airlock/worker/task_run.py):
// move the task to running (PATCH .../run), heartbeat every `heartbeatMs` (PUT .../heartbeat,
// adopting a refreshed token, stopping when the reply says keep_running: false), run the task
// function, push its return value as the `return_value` XCom, ship its log, and report the
// outcome (PATCH .../state). A thrown error is reported `failed` with its summary; the server
// decides from max_tries whether the try becomes up_for_retry, exactly as for a Python task.
// @ts-check

import { captureConsole, currentLog, jsonValue, makeContext } from "./context.js";
import { AirlockFailException, AirlockSkipException } from "./errors.js";
import { LogShipper } from "./logs.js";
import { ApiError, sleep } from "./client.js";

/** @typedef {import("./api.generated.js").Workload} Workload */
/** @typedef {import("./api.generated.js").Requests["FinishTaskInstance"]} TaskOutcome */
/** @typedef {import("./client.js").ExecutionClient} ExecutionClient */
/** @typedef {import("./context.js").TaskContext} TaskContext */
/** @typedef {(context: TaskContext) => unknown} TaskFunction */
/** @typedef {{info: (msg: string) => void, warn: (msg: string) => void, error: (msg: string) => void}} RunnerLog */

/** Statuses that mean the server no longer expects this try (cleared, reassigned, expired token). */
export const GONE_STATUSES = new Set([401, 403, 404, 409]);
export const MAX_ERROR_CHARS = 4000;

/**
 * @typedef {object} TaskRunConfig
 * @property {Record<string, unknown>} tasks the task functions, by task id or "dag_id.task_id"
 * @property {string} hostname
 * @property {number} heartbeatMs
 * @property {number} logBatchMs
 * @property {number} reportPatienceMs how long to keep trying to report an outcome
 * @property {RunnerLog} log the runner's own log
 */

/**
 * The function that runs `dagId.taskId`: the export named "dag_id.task_id" if there is one,
 * else the export named as the task id.
 * @param {Record<string, unknown>} tasks
 * @param {string} dagId
 * @param {string} taskId
 * @returns {TaskFunction | undefined}
 */
export function findTask(tasks, dagId, taskId) {
  for (const name of [`${dagId}.${taskId}`, taskId]) {
    const found = tasks[name];
    if (typeof found === "function") return /** @type {TaskFunction} */ (found);
  }
  return undefined;
}

/**
 * "Name: message" of an error, cut to a size the server keeps.
 * @param {unknown} error
 */
export function summary(error) {
  const text =
    error instanceof Error ? `${error.name}: ${error.message}` : `thrown value: ${String(error)}`;
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS - 1)}…`;
}

export class TaskRun {
  /**
   * @param {Workload} workload
   * @param {ExecutionClient} client holding the task's token
   * @param {TaskRunConfig} config
   */
  constructor(workload, client, config) {
    this.workload = workload;
    this.ti = workload.ti;
    this.client = client;
    this.config = config;
    this.stop = new AbortController();
    /** Why the server took the try away: nothing is reported then. */
    /** @type {string | null} */
    this.takenAway = null;
    this.abandoned = false;
    /** @type {TaskOutcome | null} */
    this.outcome = null;
    this.reported = false;
  }

  toString() {
    const ti = this.ti;
    const index = (ti.map_index ?? -1) >= 0 ? `[${ti.map_index}]` : "";
    return `${ti.dag_id}.${ti.task_id}${index} run ${ti.run_id}`;
  }

  /**
   * Stop the task and report it failed with `reason` (the runner is shutting down); give up
   * reporting against an unreachable API.
   * @param {string} reason
   */
  abandon(reason) {
    this.abandoned = true;
    this.stop.abort(new Error(reason));
  }

  /** Run the try to its end; never rejects. */
  async run() {
    const started = performance.now();
    try {
      await this.runTry();
    } catch (error) {
      this.config.log.error(`${this}: the runner failed while running it: ${error}`);
    }
    const state = this.reported && this.outcome ? this.outcome.state : "not reported";
    const seconds = ((performance.now() - started) / 1000).toFixed(3);
    this.config.log.info(`${this}: ${state} in ${seconds} s`);
  }

  async runTry() {
    const { config, client, ti } = this;
    let context;
    try {
      context = await client.start(ti.id, {
        hostname: config.hostname,
        pid: process.pid,
        start_date: new Date().toISOString(),
      });
    } catch (error) {
      // Not ours to run (cleared, or started elsewhere), or the API is down: the hand-out
      // lease brings it back to a runner later.
      config.log.warn(`${this}: the Execution API did not let it start: ${summary(error)}`);
      return;
    }
    const logs = new LogShipper((batch) => client.sendLogs(ti.id, batch), {
      tryNumber: context.try_number,
      batchMs: config.logBatchMs,
      onError: (error) => config.log.warn(`${this}: could not ship log lines: ${summary(error)}`),
    });
    const heartbeat = this.startHeartbeat();
    let outcome;
    try {
      outcome = await this.execute(makeContext(ti, context, client, this.stop.signal, logs), logs);
    } finally {
      clearInterval(heartbeat);
    }
    await logs.flush();
    if (this.takenAway !== null) {
      config.log.warn(`${this}: not reported, the server took it away (${this.takenAway})`);
      return;
    }
    await this.report(outcome);
  }

  /**
   * Call the task function and say how the try ended (never rejects).
   * @param {TaskContext} context
   * @param {LogShipper} logs
   * @returns {Promise<TaskOutcome>}
   */
  async execute(context, logs) {
    const { ti, workload } = this;
    const fn = findTask(this.config.tasks, ti.dag_id, ti.task_id);
    if (fn === undefined) {
      const error =
        `no task function for task '${ti.task_id}' of DAG '${ti.dag_id}': export a function ` +
        `named '${ti.task_id}' (or '${ti.dag_id}.${ti.task_id}') from the runner's tasks module`;
      logs.note(error);
      return failed(error);
    }
    captureConsole();
    const timeoutS = workload.execution_timeout_s;
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    if (timeoutS) {
      timer = setTimeout(
        () => this.stop.abort(new Error(`the task timed out after ${timeoutS} s`)),
        timeoutS * 1000,
      );
    }
    const stopped = new Promise((_, reject) => {
      this.stop.signal.addEventListener("abort", () => reject(this.stop.signal.reason), {
        once: true,
      });
    });
    stopped.catch(() => {});
    try {
      const result = await Promise.race([currentLog.run(logs, () => fn(context)), stopped]);
      if (result !== undefined && result !== null) {
        await this.client.pushXCom(ti.id, "return_value", jsonValue(result, "the return value"));
      }
      return { state: "success", end_date: new Date().toISOString() };
    } catch (error) {
      if (error instanceof AirlockSkipException) {
        logs.add(`Task skipped: ${error.message}`);
        return { state: "skipped", end_date: new Date().toISOString() };
      }
      const stack = error instanceof Error && error.stack ? error.stack : String(error);
      logs.add(`Task failed with exception\n${stack}`);
      return failed(summary(error), error instanceof AirlockFailException);
    } finally {
      clearTimeout(timer);
    }
  }

  /** @returns {NodeJS.Timeout} */
  startHeartbeat() {
    let beating = false;
    const beat = async () => {
      if (beating) return;
      beating = true;
      try {
        const reply = await this.client.heartbeat(this.ti.id, {
          hostname: this.config.hostname,
          pid: process.pid,
        });
        if (!reply.keep_running) this.takeAway(`it is ${reply.state ?? "gone"} on the server`);
      } catch (error) {
        if (error instanceof ApiError && GONE_STATUSES.has(error.status)) {
          this.takeAway(error.detail);
        } else {
          this.config.log.warn(`${this}: heartbeat failed: ${summary(error)}`);
        }
      } finally {
        beating = false;
      }
    };
    return setInterval(beat, this.config.heartbeatMs);
  }

  /** @param {string} why */
  takeAway(why) {
    if (this.takenAway !== null) return;
    this.takenAway = why;
    this.config.log.warn(`${this}: the server says stop: ${why}`);
    this.stop.abort(new Error(`the server stopped the task: ${why}`));
  }

  /**
   * Tell the API how the try ended, retrying while it is unreachable.
   * @param {TaskOutcome} outcome
   */
  async report(outcome) {
    this.outcome = outcome;
    const giveUp = performance.now() + this.config.reportPatienceMs;
    let delay = 500;
    for (;;) {
      try {
        const reply = await this.client.finish(this.ti.id, outcome);
        this.reported = true;
        if (reply.state !== outcome.state) {
          this.config.log.info(`${this}: reported ${outcome.state}, the server made it ${reply.state}`);
        }
        return;
      } catch (error) {
        if (error instanceof ApiError && GONE_STATUSES.has(error.status)) {
          this.config.log.warn(`${this}: the server did not take its outcome: ${error.detail}`);
          return;
        }
        if (performance.now() > giveUp || this.abandoned) {
          this.config.log.error(`${this}: its outcome ${outcome.state} was lost: ${summary(error)}`);
          return;
        }
        this.config.log.warn(
          `${this}: could not report its outcome (${summary(error)}); retrying in ${delay / 1000} s`,
        );
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 30_000);
    }
  }
}

/**
 * @param {string} error
 * @param {boolean} [noRetry]
 * @returns {TaskOutcome}
 */
function failed(error, noRetry = false) {
  return { state: "failed", end_date: new Date().toISOString(), error, no_retry: noRetry };
}
