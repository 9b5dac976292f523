// The http probe: GET http://127.0.0.1:PORT/PATH; a 2xx or 3xx answer passes (redirects are
// not followed), anything else, no answer within the timeout, or a refused connection fails.
import http from "node:http";
import type { ProbeResult } from "./health-machine.js";

export function httpProbe(port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.get(
      {
        host: "127.0.0.1",
        port,
        path: path || "/",
        agent: false,
        headers: { "user-agent": "yard-agent-health" },
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        done({ ok: code >= 200 && code < 400, message: `HTTP ${code}` });
        req.destroy();
      },
    );
    // The whole exchange, connect included, must fit in the timeout.
    const timer = setTimeout(() => {
      done({ ok: false, message: `no answer within ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on("error", (err) => done({ ok: false, message: err.message }));
  });
}
