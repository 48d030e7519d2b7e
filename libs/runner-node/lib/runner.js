// The runner: long-polls the Execution API for workloads of the queues it serves, with a worker
// token, and runs each as a TaskRun with the workload's own task token.
//
// It is the Node.js counterpart of the Python worker's supervisor
// (services/worker/src/airlock/worker/supervisor.py), smaller because a task is a function
// called in this process, not a forked one: the runner can live inside an existing Node.js
// application and serve its functions as tasks ("tasks as RPC"). The worker token never reaches
// task code; a task's client holds only that task's token.
// @ts-check

import { hostname } from "node:os";

import { ApiError, ExecutionClient, sleep } from "./client.js";
import { TaskRun, summary } from "./task-run.js";

/** @typedef {import("./api.generated.js").Workload} Workload */
/** @typedef {import("./task-run.js").RunnerLog} RunnerLog */

/** How long one poll may wait on the server. */
export const POLL_WAIT_S = 5;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15_000;

/** The Execution API refused the worker token: retrying cannot help. */
export class RunnerRefused extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "RunnerRefused";
  }
}

/**
 * @typedef {object} RunnerOptions
 * @property {string} apiUrl where the Execution API is served (without /execution)
 * @property {string} token a worker token (`airlock tokens issue --kind worker`)
 * @property {Record<string, unknown>} tasks task functions by task id (or "dag_id.task_id")
 * @property {string[]} [queues=["node"]]
 * @property {string} [name] how the runner names itself to the server
 * @property {number} [concurrency=8] tasks run at once
 * @property {number} [heartbeatS=5]
 * @property {number} [logBatchS=0.5]
 * @property {number} [pollWaitS=5]
 * @property {number} [shutdownGraceS=5] how long running tasks may finish when stopping
 * @property {number} [reportPatienceS=600]
 * @property {RunnerLog} [log]
 * @property {import("./client.js").ClientOptions} [client]
 */

/** @type {RunnerLog} */
export const stderrLog = {
  info: (msg) => process.stderr.write(`${new Date().toISOString()} INFO ${msg}\n`),
  warn: (msg) => process.stderr.write(`${new Date().toISOString()} WARNING ${msg}\n`),
  error: (msg) => process.stderr.write(`${new Date().toISOString()} ERROR ${msg}\n`),
};

export class Runner {
  /** @param {RunnerOptions} options */
  constructor(options) {
    const concurrency = options.concurrency ?? 8;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be a whole number of at least 1, got ${concurrency}`);
    }
    this.apiUrl = options.apiUrl;
    this.queues = options.queues ?? ["node"];
    this.name = options.name ?? `${hostname()}-node-${process.pid}`;
    this.concurrency = concurrency;
    this.pollWaitS = options.pollWaitS ?? POLL_WAIT_S;
    this.shutdownGraceMs = (options.shutdownGraceS ?? 5) * 1000;
    this.log = options.log ?? stderrLog;
    this.client = new ExecutionClient(options.apiUrl, options.token, {
      onWarning: (message) => this.log.warn(message),
      ...options.client,
    });
    /** @type {import("./task-run.js").TaskRunConfig} */
    this.config = {
      tasks: options.tasks,
      hostname: hostname(),
      heartbeatMs: (options.heartbeatS ?? 5) * 1000,
      logBatchMs: (options.logBatchS ?? 0.5) * 1000,
      reportPatienceMs: (options.reportPatienceS ?? 600) * 1000,
      log: this.log,
    };
    /** @type {Set<TaskRun>} */
    this.running = new Set();
    /** @type {(() => void) | null} */
    this.slotFreed = null;
    this.tasksStarted = 0;
  }

  /**
   * Serve workloads until `signal` aborts, then stop; rejects with RunnerRefused when the
   * server refuses the worker token.
   * @param {AbortSignal} signal
   */
  async run(signal) {
    this.log.info(
      `runner ${this.name} polling ${this.apiUrl} for queues ${this.queues.join(",")} ` +
        `with ${this.concurrency} slots`,
    );
    try {
      await this.poll(signal);
    } finally {
      await this.shutdown();
    }
  }

  /** @param {AbortSignal} signal */
  async poll(signal) {
    let delay = RECONNECT_MIN_MS;
    /** @type {number | null} */
    let outageSince = null;
    while (!signal.aborted) {
      const slots = this.concurrency - this.running.size;
      if (slots === 0) {
        await this.nextFreeSlot(signal);
        continue;
      }
      let batch;
      try {
        batch = await this.client.nextWorkloads(
          { worker: this.name, queues: this.queues, slots, wait_s: this.pollWaitS },
          signal,
        );
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          throw new RunnerRefused(
            `the Execution API at ${this.apiUrl} refused the worker token: ${error.detail}; ` +
              "issue a worker token with `airlock tokens issue --kind worker --queue " +
              `${this.queues[0]}\``,
          );
        }
        outageSince ??= performance.now();
        this.log.warn(
          `cannot get work from the Execution API at ${this.apiUrl} (${summary(error)}); ` +
            `retrying in ${(delay / 1000).toFixed(1)} s`,
        );
        await sleep(delay, signal).catch(() => {});
        delay = Math.min(delay * 2, RECONNECT_MAX_MS);
        continue;
      }
      if (outageSince !== null) {
        const seconds = ((performance.now() - outageSince) / 1000).toFixed(0);
        this.log.info(`the Execution API at ${this.apiUrl} answers again after ${seconds} s`);
        outageSince = null;
        delay = RECONNECT_MIN_MS;
      }
      for (const workload of batch.workloads) this.start(workload);
    }
  }

  /** @param {Workload} workload */
  start(workload) {
    const run = new TaskRun(workload, this.client.withToken(workload.token), this.config);
    this.running.add(run);
    this.tasksStarted += 1;
    void run.run().finally(() => {
      this.running.delete(run);
      this.slotFreed?.();
    });
  }

  /**
   * @param {AbortSignal} signal
   * @returns {Promise<void>}
   */
  nextFreeSlot(signal) {
    return new Promise((resolve) => {
      const done = () => {
        this.slotFreed = null;
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.slotFreed = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  async shutdown() {
    if (this.running.size > 0) {
      this.log.info(
        `stopping: waiting up to ${this.shutdownGraceMs / 1000} s for ${this.running.size} running task(s)`,
      );
      const deadline = performance.now() + this.shutdownGraceMs;
      while (this.running.size > 0 && performance.now() < deadline) await sleep(50);
      const left = [...this.running];
      for (const run of left) run.abandon("the runner stopped before the task finished");
      while (this.running.size > 0) await sleep(50);
    }
    this.log.info(`runner ${this.name} stopped`);
  }
}
