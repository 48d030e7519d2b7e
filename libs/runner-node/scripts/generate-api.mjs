#!/usr/bin/env node
// Writes lib/api.generated.js from the published OpenAPI document of the Execution API
// (deploy/openapi/execution.json): a JSDoc typedef per schema, the table of operations
// (method, path, parameters, success status) and the request and response type of each.
//
//   node scripts/generate-api.mjs            regenerate lib/api.generated.js
//   node scripts/generate-api.mjs --check    exit 1 when the file is out of date
//
// The client (lib/client.js) builds every request from this table, so a path the server
// moves shows up here, and the tests fail until the file is regenerated.
// @ts-check

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_ROOT = join(HERE, "..");
export const OPENAPI_PATH = join(PACKAGE_ROOT, "..", "..", "deploy", "openapi", "execution.json");
export const OUTPUT_PATH = join(PACKAGE_ROOT, "lib", "api.generated.js");

const DATE_VERSION = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The JSDoc type of a JSON schema.
 * @param {any} schema
 * @returns {string}
 */
function typeOf(schema) {
  if (schema === undefined || schema === null) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((/** @type {any} */ v) => JSON.stringify(v)).join(" | ");
  const union = schema.oneOf ?? schema.anyOf;
  if (union) return union.map(typeOf).join(" | ");
  if (Array.isArray(schema.type)) {
    return schema.type.map((/** @type {string} */ t) => typeOf({ ...schema, type: t })).join(" | ");
  }
  switch (schema.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "null":
      return "null";
    case "array":
      return `Array<${typeOf(schema.items)}>`;
    case "object":
      if (schema.properties) return inlineObject(schema);
      return `Record<string, ${typeOf(schema.additionalProperties)}>`;
    default:
      return "any";
  }
}

/** @param {any} schema */
function inlineObject(schema) {
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties).map(
    ([name, prop]) => `${name}${required.has(name) ? "" : "?"}: ${typeOf(prop)}`,
  );
  return `{ ${fields.join(", ")} }`;
}

/**
 * @param {string} name
 * @param {any} schema
 */
function typedef(name, schema) {
  if (schema.type !== "object" || !schema.properties) {
    return `/** @typedef {${typeOf(schema)}} ${name} */\n`;
  }
  const required = new Set(schema.required ?? []);
  const lines = ["/**", ` * @typedef {object} ${name}`];
  for (const [prop, propSchema] of Object.entries(schema.properties)) {
    const optional = !required.has(prop);
    const fallback =
      optional && propSchema.default !== undefined
        ? `=${JSON.stringify(propSchema.default)}`
        : "";
    const label = optional ? `[${prop}${fallback}]` : prop;
    lines.push(` * @property {${typeOf(propSchema)}} ${label}`);
  }
  lines.push(" */");
  return `${lines.join("\n")}\n`;
}

/** @param {any} operation */
function successOf(operation) {
  const status = Object.keys(operation.responses)
    .filter((code) => code.startsWith("2"))
    .sort()[0];
  const schema = operation.responses[status]?.content?.["application/json"]?.schema;
  return { status: Number(status), type: schema ? typeOf(schema) : "void" };
}

/**
 * The text of lib/api.generated.js for an OpenAPI document.
 * @param {any} document
 * @param {string} source where the document was read from, for the header
 * @returns {string}
 */
export function generate(document, source) {
  const version = DATE_VERSION.test(document.info?.version ?? "") ? document.info.version : null;
  const schemas = document.components?.schemas ?? {};
  /** @type {Array<{id: string, method: string, path: string, pathParams: string[], queryParams: string[], success: number, request: string, response: string}>} */
  const operations = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = operation.parameters ?? [];
      const success = successOf(operation);
      const body = operation.requestBody?.content?.["application/json"]?.schema;
      operations.push({
        id: operation.operationId,
        method: method.toUpperCase(),
        path,
        pathParams: parameters
          .filter((/** @type {any} */ p) => p.in === "path")
          .map((/** @type {any} */ p) => p.name),
        queryParams: parameters
          .filter((/** @type {any} */ p) => p.in === "query")
          .map((/** @type {any} */ p) => p.name),
        success: success.status,
        request: body ? typeOf(body) : "undefined",
        response: success.type,
      });
    }
  }
  operations.sort((a, b) => a.id.localeCompare(b.id));

  const out = [
    `// Generated by scripts/generate-api.mjs from ${source}: do not edit.`,
    "// Regenerate with `npm run generate` (in libs/runner-node) after `just openapi`.",
    "// @ts-check",
    "",
    "/**",
    " * The Execution API version these types describe, sent as the Airlock-API-Version header",
    " * (null: the document names no dated version, so requests go without the header = head).",
    " * @type {string | null}",
    " */",
    `export const API_VERSION = ${JSON.stringify(version)};`,
    "",
  ];
  for (const name of Object.keys(schemas).sort()) out.push(typedef(name, schemas[name]));

  out.push("/**", " * @typedef {object} Operation");
  out.push(" * @property {string} method", " * @property {string} path");
  out.push(" * @property {readonly string[]} pathParams");
  out.push(" * @property {readonly string[]} queryParams");
  out.push(" * @property {number} success the status the server answers when it did the work");
  out.push(" */", "");
  out.push(`/** @typedef {${operations.map((o) => JSON.stringify(o.id)).join(" | ")}} OperationId */`);
  out.push("");
  out.push("/**", " * What each operation sends as its JSON body.", " * @typedef {object} Requests");
  for (const o of operations) out.push(` * @property {${o.request}} ${o.id}`);
  out.push(" */", "");
  out.push("/**", " * What each operation answers on success.", " * @typedef {object} Responses");
  for (const o of operations) out.push(` * @property {${o.response}} ${o.id}`);
  out.push(" */", "");
  out.push("/** @type {Readonly<Record<OperationId, Operation>>} */");
  out.push("export const OPERATIONS = Object.freeze({");
  for (const o of operations) {
    const fields = [
      `method: ${JSON.stringify(o.method)}`,
      `path: ${JSON.stringify(o.path)}`,
      `pathParams: ${JSON.stringify(o.pathParams)}`,
      `queryParams: ${JSON.stringify(o.queryParams)}`,
      `success: ${o.success}`,
    ];
    out.push(`  ${o.id}: { ${fields.join(", ")} },`);
  }
  out.push("});", "");
  return out.join("\n");
}

/** @returns {string} */
export function generateFromRepository() {
  const document = JSON.parse(readFileSync(OPENAPI_PATH, "utf8"));
  return generate(document, relative(join(PACKAGE_ROOT, "..", ".."), OPENAPI_PATH));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = generateFromRepository();
  if (process.argv.includes("--check")) {
    if (readFileSync(OUTPUT_PATH, "utf8") !== text) {
      console.error(
        `${relative(process.cwd(), OUTPUT_PATH)} is out of date with ${relative(process.cwd(), OPENAPI_PATH)}; ` +
          "run `npm run generate --prefix libs/runner-node`",
      );
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT_PATH, text);
    console.log(`wrote ${relative(process.cwd(), OUTPUT_PATH)}`);
  }
}
