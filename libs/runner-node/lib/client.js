// The Execution API client: every request is built from the operation table generated from
// the published OpenAPI document (lib/api.generated.js), so the method, the path and the body
// and reply types of each call are the server's own.
//
// Like the Python SDK's ExecutionClient (libs/sdk/src/airlock/sdk/api/execution.py): calls are
// retried with exponential backoff on connection errors, 429 and 5xx (the server makes each of
// them idempotent); any other 4xx raises an ApiError at once carrying the problem details
// (RFC 9457); a heartbeat reply's refreshed token replaces the one in use.
// @ts-check

import { API_VERSION, OPERATIONS } from "./api.generated.js";

/** @typedef {import("./api.generated.js").OperationId} OperationId */
/** @typedef {import("./api.generated.js").Requests} Requests */
/** @typedef {import("./api.generated.js").Responses} Responses */

/** The request header naming the client's API version; responses carry the server's head. */
export const VERSION_HEADER = "Airlock-API-Version";
export const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
/** Extra time a long-poll gets beyond what it asked the server to wait. */
export const LONG_POLL_MARGIN_MS = 10_000;

/** An answer of the Execution API that is an error the caller must act on. */
export class ApiError extends Error {
  /**
   * @param {string} method
   * @param {string} url
   * @param {number} status
   * @param {Record<string, any>} problem the RFC 9457 body (or `{detail}` made from the text)
   */
  constructor(method, url, status, problem) {
    const detail = problem.detail ?? problem.title ?? "no detail";
    super(`${method} ${url} answered ${status}: ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.detail = String(detail);
  }
}

/**
 * @typedef {object} ClientOptions
 * @property {number} [timeoutMs=30000] per attempt, except long-polls
 * @property {number} [retries=5] attempts after the first
 * @property {number} [backoffMs=200]
 * @property {number} [maxBackoffMs=5000]
 * @property {string | null} [apiVersion] sent as Airlock-API-Version (default: the generated one)
 * @property {typeof fetch} [fetch] the transport (default: the global fetch)
 * @property {(message: string) => void} [onWarning] told once when the server is older than
 *   the client (it answers with an older head version than the one the client speaks)
 */

export class ExecutionClient {
  /**
   * @param {string} baseUrl where the Execution API is served (without the /execution prefix)
   * @param {string} token a worker token, or a task token
   * @param {ClientOptions} [options]
   */
  constructor(baseUrl, token, options = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 5;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.apiVersion = options.apiVersion === undefined ? API_VERSION : options.apiVersion;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.onWarning = options.onWarning ?? ((message) => process.emitWarning(message));
    /** Shared with the task clients made by withToken, so the warning comes once. */
    this.versionCheck = { warned: false };
  }

  /**
   * A client for one task: the same server and settings with the task's own token.
   * @param {string} token
   * @returns {ExecutionClient}
   */
  withToken(token) {
    const copy = Object.create(ExecutionClient.prototype);
    return Object.assign(copy, this, { token });
  }

  // --- workers (worker token) --------------------------------------------------------------

  /**
   * Wait up to `request.wait_s` for queued tasks of `request.queues`.
   * @param {import("./api.generated.js").WorkloadRequest} request
   * @param {AbortSignal} [signal] aborts the poll (the runner is stopping)
   */
  async nextWorkloads(request, signal) {
    const timeoutMs = (request.wait_s ?? 10) * 1000 + LONG_POLL_MARGIN_MS;
    return this.call("NextWorkloads", {}, request, { timeoutMs, signal });
  }

  // --- the task's own instance (task token) ------------------------------------------------

  /**
   * @param {string} tiId
   * @param {import("./api.generated.js").TaskStart} start
   */
  start(tiId, start) {
    return this.call("StartTaskInstance", { ti_id: tiId }, start);
  }

  /**
   * @param {string} tiId
   * @param {import("./api.generated.js").Heartbeat} beat
   */
  async heartbeat(tiId, beat) {
    const reply = await this.call("HeartbeatTaskInstance", { ti_id: tiId }, beat);
    if (reply.token) this.token = reply.token;
    return reply;
  }

  /**
   * @param {string} tiId
   * @param {Requests["FinishTaskInstance"]} outcome
   */
  finish(tiId, outcome) {
    return this.call("FinishTaskInstance", { ti_id: tiId }, outcome);
  }

  /**
   * @param {string} tiId
   * @param {import("./api.generated.js").LogBatch} batch
   */
  async sendLogs(tiId, batch) {
    await this.call("SendTaskLogs", { ti_id: tiId }, batch);
  }

  /**
   * @param {string} tiId
   * @param {string} key
   * @param {unknown} value any JSON value
   */
  async pushXCom(tiId, key, value) {
    await this.call("PushXCom", { ti_id: tiId, key }, { key, value });
  }

  // --- reads within the task's bundle ------------------------------------------------------

  /**
   * The XCom's value, or undefined when there is none; for a mapped task without `mapIndex`,
   * the list of all its instances' values.
   * @param {{dagId: string, runId: string, taskId: string, key?: string, mapIndex?: number}} ref
   * @returns {Promise<unknown>}
   */
  async pullXCom({ dagId, runId, taskId, key = "return_value", mapIndex }) {
    const params = { dag_id: dagId, run_id: runId, task_id: taskId, key };
    const query = mapIndex === undefined ? {} : { map_index: mapIndex };
    const found = await this.call("PullXCom", { ...params, ...query }, undefined, {
      accept: [404],
    });
    return found === null ? undefined : found.value;
  }

  /**
   * @param {string} key
   * @returns {Promise<string | undefined>}
   */
  async getVariable(key) {
    const found = await this.call("GetVariableForTask", { key }, undefined, { accept: [404] });
    return found === null ? undefined : found.value;
  }

  /**
   * @param {string} connId
   * @returns {Promise<import("./api.generated.js").ConnectionInfo | undefined>}
   */
  async getConnection(connId) {
    const found = await this.call("GetConnectionForTask", { conn_id: connId }, undefined, {
      accept: [404],
    });
    return found ?? undefined;
  }

  // --- plumbing ----------------------------------------------------------------------------

  /**
   * Send one operation with retries. A status in `accept` answers null instead of raising.
   * @template {OperationId} K
   * @param {K} operationId
   * @param {Record<string, string | number | undefined>} params path and query parameters by name
   * @param {Requests[K]} body
   * @param {{timeoutMs?: number, signal?: AbortSignal, accept?: number[]}} [options]
   * @returns {Promise<Responses[K]>}
   */
  async call(operationId, params, body, options = {}) {
    const operation = OPERATIONS[operationId];
    const url = this.url(operation, params);
    const headers = /** @type {Record<string, string>} */ ({
      Accept: "application/json",
      "User-Agent": "airlock-runner-node",
    });
    if (this.apiVersion) headers[VERSION_HEADER] = this.apiVersion;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    let delay = this.backoffMs;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.retries;
      headers.Authorization = `Bearer ${this.token}`;
      const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      /** @type {Response | undefined} */
      let response;
      try {
        response = await this.fetch(url, {
          method: operation.method,
          headers,
          body: payload,
          signal,
        });
      } catch (error) {
        if (options.signal?.aborted || last) throw error;
      }
      if (response !== undefined) {
        this.checkServerVersion(response.headers.get(VERSION_HEADER));
        const status = response.status;
        if (status < 400) {
          const text = await response.text();
          return /** @type {Responses[K]} */ (text ? JSON.parse(text) : undefined);
        }
        if (options.accept?.includes(status)) {
          await response.body?.cancel();
          return /** @type {any} */ (null);
        }
        if (!RETRY_STATUSES.has(status) || last) {
          throw new ApiError(operation.method, url, status, await problemOf(response));
        }
        await response.body?.cancel();
      }
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, this.maxBackoffMs);
    }
  }

  /**
   * Warn once when the server's head version is older than the version this client speaks:
   * the server must be at least as new as its clients.
   * @param {string | null} served
   */
  checkServerVersion(served) {
    if (!served || !this.apiVersion || served >= this.apiVersion || this.versionCheck.warned) return;
    this.versionCheck.warned = true;
    this.onWarning(
      `the Execution API at ${this.baseUrl} is older than this runner: it serves API version ` +
        `${served} at most, the runner speaks ${this.apiVersion}; upgrade the server first`,
    );
  }

  /**
   * @param {import("./api.generated.js").Operation} operation
   * @param {Record<string, string | number | undefined>} params
   */
  url(operation, params) {
    let path = operation.path;
    for (const name of operation.pathParams) {
      if (params[name] === undefined) {
        throw new TypeError(`${operation.path} needs the path parameter ${name}`);
      }
      path = path.replace(`{${name}}`, encodeURIComponent(String(params[name])));
    }
    const query = new URLSearchParams();
    for (const name of operation.queryParams) {
      if (params[name] !== undefined && params[name] !== null) query.set(name, String(params[name]));
    }
    const search = query.size ? `?${query}` : "";
    return `${this.baseUrl}${path}${search}`;
  }
}

/**
 * @param {Response} response
 * @returns {Promise<Record<string, any>>}
 */
async function problemOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body && typeof body === "object" && !Array.isArray(body) ? body : { detail: text };
  } catch {
    return { detail: text.slice(0, 500) || response.statusText };
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
