// A stand-in Execution API behind the client's transport seam (its `fetch` option): answers by
// method and path, and records every request so a test can check the conversation.

/**
 * @param {Array<[string, RegExp, (request: {body: any, url: URL, headers: Headers}) => {status?: number, body?: any}]>} routes
 * @param {Record<string, string>} [replyHeaders] sent with every answer
 */
export function fakeApi(routes, replyHeaders = {}) {
  const calls = [];
  /** @type {typeof fetch} */
  const fetch = async (input, init = {}) => {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const body = init.body === undefined ? undefined : JSON.parse(String(init.body));
    calls.push({ method: init.method, path: url.pathname, query: url.search, body, headers });
    for (const [method, pattern, answer] of routes) {
      if (method === init.method && pattern.test(url.pathname)) {
        const { status = 200, body: reply } = answer({ body, url, headers });
        const text = reply === undefined ? null : JSON.stringify(reply);
        return new Response(text, { status, headers: { "Content-Type": "application/json", ...replyHeaders } });
      }
    }
    return new Response(JSON.stringify({ status: 404, detail: `no route ${init.method} ${url.pathname}` }), {
      status: 404,
      headers: { "Content-Type": "application/problem+json" },
    });
  };
  return { fetch, calls };
}
