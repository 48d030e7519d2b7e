// The JavaScript tasks of mixed_languages.py, run by the Node.js runner on queue "node":
//   node libs/runner-node/lib/cli.js --tasks deploy/dags/mixed_languages.mjs --token-file …
// Each export is found by its task id and called with the task's context.

/** @param {import("../../libs/runner-node/lib/context.js").TaskContext} ctx */
export async function summarize({ xcomPull, xcomPush }) {
  const { orders, currency } = await xcomPull("extract");
  console.log(`summing ${orders.length} orders in ${currency} on Node.js ${process.version}`);
  await xcomPush("largest", Math.max(...orders));
  return { total: orders.reduce((sum, n) => sum + n, 0), count: orders.length, currency };
}
