// The tcp probe: a connection to 127.0.0.1:PORT accepted within the timeout passes.
import net from "node:net";
import type { ProbeResult } from "./health-machine.js";

export function tcpProbe(port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, message: `no connection within ${timeoutMs} ms` }),
      timeoutMs,
    );
    sock.on("connect", () => done({ ok: true, message: "connected" }));
    sock.on("error", (err) => done({ ok: false, message: err.message }));
  });
}
