// Reaching the Docker engine: where it listens (a --docker-socket flag, DOCKER_HOST, or the
// default /var/run/docker.sock), whether it answers, and what its errors mean.
import Docker from "dockerode";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export interface EngineAddress {
  /** As the operator wrote it, for messages. */
  display: string;
  options: Docker.DockerOptions;
}

/**
 * Parses `unix:///path`, `/path`, `tcp://host:port` or `http://host:port`. Undefined or ""
 * means DOCKER_HOST, then the default socket. Throws an Error naming the value when it is
 * none of those.
 */
export function engineAddress(socket: string | undefined, env = process.env): EngineAddress {
  const raw = socket?.trim() || env.DOCKER_HOST?.trim() || DEFAULT_DOCKER_SOCKET;
  if (raw.startsWith("unix://")) {
    const p = raw.slice("unix://".length);
    if (!p.startsWith("/")) throw new Error(`docker socket "${raw}": the unix socket path must be absolute`);
    return { display: raw, options: { socketPath: p } };
  }
  if (raw.startsWith("/")) return { display: `unix://${raw}`, options: { socketPath: raw } };
  const m = /^(tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(raw);
  if (m) return { display: raw, options: { protocol: "http", host: m[2], port: Number(m[3]) } };
  throw new Error(`docker socket "${raw}" is not unix:///path, /path or tcp://host:port`);
}

export function connectEngine(address: EngineAddress): Docker {
  return new Docker(address.options);
}

/** Resolves the engine's version when it answers within `timeoutMs`, else rejects. */
export async function pingEngine(docker: Docker, timeoutMs = 3000): Promise<string> {
  return withTimeout(
    (async () => {
      await docker.ping();
      const v = await docker.version();
      return v.Version;
    })(),
    timeoutMs,
    "the Docker engine did not answer",
  );
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The HTTP status of a failed engine call, if the engine answered at all. */
export function engineStatus(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === "number" ? s : undefined;
}

/** True when the engine could not be reached (no socket, refused, reset, timed out). */
export function isEngineDown(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    typeof code === "string" &&
    ["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "EACCES", "ETIMEDOUT", "EHOSTUNREACH"].includes(code)
  );
}

/** The engine's own message (its JSON `message`), else the error's. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: unknown })?.json;
  if (json && typeof json === "object" && typeof (json as { message?: unknown }).message === "string") {
    return (json as { message: string }).message;
  }
  const reason = (err as { reason?: unknown })?.reason;
  const msg = err instanceof Error ? err.message : String(err);
  return typeof reason === "string" && !msg.includes(reason) ? `${reason}: ${msg}` : msg;
}
