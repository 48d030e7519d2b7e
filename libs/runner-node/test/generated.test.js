// The generated client table must match the published OpenAPI document of the Execution API.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { OUTPUT_PATH, generate, generateFromRepository } from "../scripts/generate-api.mjs";
import { OPERATIONS } from "../lib/api.generated.js";

test("lib/api.generated.js is up to date with deploy/openapi/execution.json", () => {
  assert.equal(
    readFileSync(OUTPUT_PATH, "utf8"),
    generateFromRepository(),
    "run `npm run generate --prefix libs/runner-node` after `just openapi`",
  );
});

test("every operation the runner calls is in the published API", () => {
  for (const id of [
    "NextWorkloads",
    "StartTaskInstance",
    "HeartbeatTaskInstance",
    "FinishTaskInstance",
    "SendTaskLogs",
    "PushXCom",
    "PullXCom",
    "GetVariableForTask",
    "GetConnectionForTask",
  ]) {
    assert.ok(OPERATIONS[id], `${id} is missing from the Execution API's OpenAPI`);
  }
});

test("a dated document version becomes the API version the client sends", () => {
  const document = {
    info: { version: "2026-11-01" },
    paths: {
      "/execution/things/{id}": {
        get: {
          operationId: "GetThing",
          parameters: [
            { in: "path", name: "id" },
            { in: "query", name: "verbose" },
          ],
          responses: {
            200: { content: { "application/json": { schema: { $ref: "#/components/schemas/Thing" } } } },
          },
        },
      },
    },
    components: {
      schemas: {
        Thing: {
          type: "object",
          properties: { id: { type: "string" }, size: { oneOf: [{ type: "integer" }, { type: "null" }] } },
          required: ["id"],
        },
      },
    },
  };
  const text = generate(document, "test");
  assert.match(text, /export const API_VERSION = "2026-11-01";/);
  assert.match(text, / \* @property \{number \| null\} \[size\]/);
  assert.match(text, /GetThing: \{ method: "GET", path: "\/execution\/things\/\{id\}", pathParams: \["id"\], queryParams: \["verbose"\], success: 200 \}/);
  assert.match(generate({ ...document, info: { version: "0.1.0" } }, "test"), /API_VERSION = null;/);
});
