// The public API of @airlock/runner-node: embed a Runner in an application to serve its
// functions as Airlock tasks, or start one with the command line (lib/cli.js).
// @ts-check

export { API_VERSION, OPERATIONS } from "./api.generated.js";
export { ApiError, ExecutionClient } from "./client.js";
export { AirlockFailException, AirlockSkipException } from "./errors.js";
export { Runner, RunnerRefused } from "./runner.js";
export { findTask } from "./task-run.js";
