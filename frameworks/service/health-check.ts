// One health check probe: http (GET, 2xx/3xx passes), tcp (connect) or command (exit 0),
// against an instance's host and port, within the check's timeout. The framework runs the
// probes itself (see docs/service-framework.md for why): the agents' task ports are
// reachable from the framework's host.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import type { HealthCheck } from "./app-spec.js";

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export function probe(hc: HealthCheck, host: string, port: number): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, hc.timeoutSeconds * 1000);
  if (hc.kind === "http") return probeHttp(host, port, hc.path, timeoutMs);
  if (hc.kind === "tcp") return probeTcp(host, port, timeoutMs);
  return probeCommand(hc.command, host, port, timeoutMs);
}

function probeHttp(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `HTTP ${code}` });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ ok: false, message: err.message }));
  });
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (r: ProbeResult) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done({ ok: false, message: `no connection within ${timeoutMs} ms` }));
    sock.on("connect", () => done({ ok: true, message: "connected" }));
    sock.on("error", (err) => done({ ok: false, message: err.message }));
  });
}

function probeCommand(command: string, host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", command], {
      env: { ...process.env, HOST: host, PORT: String(port), PORT0: String(port) },
      stdio: "ignore",
      detached: true,
    });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ ok: false, message: err.message });
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(
        code === 0
          ? { ok: true, message: "exit 0" }
          : { ok: false, message: signal ? `killed after ${timeoutMs} ms` : `exit ${code}` },
      );
    });
  });
}
