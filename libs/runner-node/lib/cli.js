#!/usr/bin/env node
// `airlock-runner-node`: serve the task functions of a JavaScript module on one or more queues.
//
//   node libs/runner-node/lib/cli.js --tasks ./tasks.mjs --queues node \
//       --api-url http://127.0.0.1:8080 --token-file worker.token
//
// The worker token and the API URL may also come from AIRLOCK_WORKER__TOKEN (or
// AIRLOCK_WORKER__TOKEN_FILE) and AIRLOCK_WORKER__API_URL, as for `airlock worker`.
// SIGINT or SIGTERM stops polling and gives running tasks --shutdown-grace-s to finish.
// Exit codes: 0 stopped, 2 bad usage or a refused token.
// @ts-check

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { Runner, RunnerRefused } from "./runner.js";

const USAGE = `usage: airlock-runner-node --tasks MODULE [options]

Serve the functions MODULE exports as Airlock tasks (by task id, or by "dag_id.task_id").

options:
  --tasks MODULE          a JavaScript module of task functions (required; repeat for several)
  --queues Q[,Q...]       queues to take tasks from (default: node)
  --api-url URL           the Execution API (default: $AIRLOCK_WORKER__API_URL or http://127.0.0.1:8080)
  --token-file FILE       a worker token (default: $AIRLOCK_WORKER__TOKEN, $AIRLOCK_WORKER__TOKEN_FILE)
  --name NAME             how this runner names itself to the server (default: host-node-pid)
  --concurrency N         tasks run at once (default: 8)
  --heartbeat-s S         seconds between heartbeats of a running task (default: 5)
  --log-batch-s S         seconds between log uploads of a running task (default: 0.5)
  --shutdown-grace-s S    when stopping, how long running tasks may finish (default: 5)
  -h, --help              this help`;

class UsageError extends Error {}

/**
 * @param {string | undefined} text
 * @param {string} flag
 * @param {number} fallback
 */
function number(text, flag, fallback) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} must be a positive number, got '${text}'`);
  }
  return value;
}

/** @param {NodeJS.ProcessEnv} env @param {string | undefined} tokenFile */
function readToken(env, tokenFile) {
  const file = tokenFile ?? env.AIRLOCK_WORKER__TOKEN_FILE;
  if (tokenFile === undefined && env.AIRLOCK_WORKER__TOKEN) return env.AIRLOCK_WORKER__TOKEN.trim();
  if (!file) {
    throw new UsageError(
      "no worker token: pass --token-file, or set AIRLOCK_WORKER__TOKEN; issue one with " +
        "`airlock tokens issue --kind worker --queue node`",
    );
  }
  let token;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new UsageError(`cannot read the worker token file ${file}: ${/** @type {Error} */ (error).message}`);
  }
  if (!token) throw new UsageError(`the worker token file ${file} is empty`);
  return token;
}

/**
 * The task functions of the modules, by export name; a name two modules export is an error.
 * @param {string[]} paths
 * @returns {Promise<Record<string, unknown>>}
 */
async function loadTasks(paths) {
  /** @type {Record<string, unknown>} */
  const tasks = {};
  /** @type {Record<string, string>} */
  const origin = {};
  for (const path of paths) {
    let module;
    try {
      module = await import(pathToFileURL(resolve(path)).href);
    } catch (error) {
      throw new UsageError(`cannot load the tasks module ${path}: ${/** @type {Error} */ (error).message}`);
    }
    const fallback = module.default && typeof module.default === "object" ? module.default : {};
    const exported = { ...fallback, ...module };
    const names = Object.keys(exported).filter(
      (name) => name !== "default" && typeof exported[name] === "function",
    );
    if (names.length === 0) {
      throw new UsageError(`the tasks module ${path} exports no functions; export one per task id`);
    }
    for (const name of names) {
      if (name in origin) {
        throw new UsageError(
          `task function '${name}' is exported by both ${origin[name]} and ${path}; rename one, ` +
            `or export it as "dag_id.task_id" to say which DAG it serves`,
        );
      }
      origin[name] = path;
      tasks[name] = exported[name];
    }
  }
  return tasks;
}

/** @param {string[]} argv */
async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: "string", multiple: true },
      queues: { type: "string", default: "node" },
      "api-url": { type: "string" },
      "token-file": { type: "string" },
      name: { type: "string" },
      concurrency: { type: "string" },
      "heartbeat-s": { type: "string" },
      "log-batch-s": { type: "string" },
      "shutdown-grace-s": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.tasks?.length) throw new UsageError("--tasks MODULE is required");
  const queues = values.queues.split(",").map((q) => q.trim()).filter(Boolean);
  if (queues.length === 0) throw new UsageError("--queues must name at least one queue");
  const concurrency = number(values.concurrency, "--concurrency", 8);
  if (!Number.isInteger(concurrency)) {
    throw new UsageError(`--concurrency must be a whole number, got '${values.concurrency}'`);
  }
  const runner = new Runner({
    apiUrl: values["api-url"] ?? process.env.AIRLOCK_WORKER__API_URL ?? "http://127.0.0.1:8080",
    token: readToken(process.env, values["token-file"]),
    tasks: await loadTasks(values.tasks),
    queues,
    name: values.name,
    concurrency,
    heartbeatS: number(values["heartbeat-s"], "--heartbeat-s", 5),
    logBatchS: number(values["log-batch-s"], "--log-batch-s", 0.5),
    shutdownGraceS: number(values["shutdown-grace-s"], "--shutdown-grace-s", 5),
  });
  const stop = new AbortController();
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
    process.once(signal, () => stop.abort());
  }
  await runner.run(stop.signal);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    if (error instanceof UsageError || error instanceof RunnerRefused || error?.code?.startsWith?.("ERR_PARSE_ARGS")) {
      console.error(`airlock-runner-node: ${error.message}`);
      if (error instanceof UsageError || error?.code?.startsWith?.("ERR_PARSE_ARGS")) console.error("run with --help for usage");
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
