// Helpers of the bounded-memory and shutdown fault tests: a daemon's resident memory, raw
// operator streams that a test reads (or does not read) itself, and timing a daemon's exit.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../common/grpc.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { waitFor, YARDCTL } from "../cluster/harness.js";
import { operatorCredentials, tlsEnv } from "../tls-fixture.js";

/** A yardctl daemon this test started, with its output kept for assertions and messages. */
export interface Daemon {
  child: ChildProcess;
  output: string[];
}

export function spawnYardctl(args: string[], env: NodeJS.ProcessEnv = {}): Daemon {
  const child = spawn(process.execPath, [YARDCTL, ...args], {
    env: { ...process.env, ...tlsEnv(), YARD_LOG_LEVEL: process.env.YARD_LOG_LEVEL ?? "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (b: Buffer) => output.push(b.toString()));
  child.stderr!.on("data", (b: Buffer) => output.push(b.toString()));
  return { child, output };
}

/** Waits for a line of the daemon's output to match `re`; returns the match. */
export function waitForOutput(d: Daemon, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return waitFor(
    `output matching ${re}`,
    () => {
      if (d.child.exitCode !== null) throw new Error(`exited: ${d.output.join("")}`);
      return re.exec(d.output.join("")) ?? undefined;
    },
    timeoutMs,
  );
}

/** SIGKILLs a daemon that is still running (cleanup on every path). */
export function killDaemon(d: Daemon | undefined): void {
  if (d && d.child.exitCode === null && d.child.signalCode === null) d.child.kill("SIGKILL");
}

/** Resident set size of a process, in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; `peak()` is the highest seen. */
export function sampleRss(pid: number, everyMs = 100): { peak(): number; stop(): void } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone
    }
  }, everyMs);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

export function operatorClient(address: string): OperatorServiceClient {
  return new OperatorServiceClient(address, operatorCredentials(), CHANNEL_OPTIONS);
}

/**
 * Holds a server stream unread: a client that stops reading. grpc-js buffers without bound
 * for a call that was never read from (it pauses its HTTP/2 stream only after a read), so
 * the stream is read once and paused at once: grpc-js then keeps at most its 16 messages and
 * HTTP/2's window, and the server sees a client that does not read. `resume(onData)` reads
 * on, the held messages first; `ended()` says how the stream ended once that was read.
 */
export function stalled<T>(stream: ClientReadableStream<T>) {
  let ended: { error?: ServiceError } | undefined;
  let sink: ((msg: T) => void) | undefined;
  const held: T[] = [];
  stream.on("error", (error: ServiceError) => {
    ended = { error };
  });
  stream.on("end", () => {
    ended ??= {};
  });
  stream.on("data", (msg: T) => (sink ? sink(msg) : held.push(msg)));
  stream.pause();
  return {
    stream,
    ended: () => ended,
    resume(onData: (msg: T) => void) {
      for (const msg of held.splice(0)) onData(msg);
      sink = onData;
      stream.resume();
    },
  };
}

/** Sends `signal` to a child and resolves how many ms it took to exit, failing past `limitMs`. */
export async function timeExit(
  child: ChildProcess,
  signal: NodeJS.Signals,
  limitMs: number,
): Promise<{ ms: number; code: number | null; signal: NodeJS.Signals | null }> {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, sig) => resolve({ code, signal: sig })),
  );
  const started = Date.now();
  child.kill(signal);
  let result: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited.then((r) => {
    result = r;
  });
  await waitFor(`pid ${child.pid} to exit after ${signal}`, () => result !== undefined, limitMs, 20);
  return { ms: Date.now() - started, ...result! };
}
