// Host mounts a task asks for (LABEL_VOLUMES), checked against the agent's allowed host paths.
// A path is judged by where it leads, not by how it is spelled: both the requested path and
// the allowed paths go through `resolve` (realpath on the agent: every symlink followed), the
// resolved path must lie at or below a resolved allowed path, and the bind names the
// resolved path. Otherwise a task that may write into an allowed directory plants
// `allowed/esc -> /` and a second task mounts `allowed/esc`: the host's root (the pattern of
// Kubernetes CVE-2017-1002101). Pure but for `resolve`, which the caller injects.
import path from "node:path";
import { LaunchError } from "../executor.js";

/**
 * Task label asking for host mounts: `HOST:CONTAINER[:ro|:rw]`, comma-separated. Each HOST
 * must exist and resolve into one of the agent's allowed host paths.
 */
export const LABEL_VOLUMES = "yard.docker.volumes";

const FIELD = `task.labels["${LABEL_VOLUMES}"]`;

export interface HostMount {
  /** As the task wrote it. */
  item: string;
  host: string;
  target: string;
  mode: "ro" | "rw" | undefined;
}

/** Resolves a host path to where it leads (realpath); throws when it cannot (e.g. ENOENT). */
export type ResolvePath = (p: string) => string;

/** True when `p` is `base` or lies below it (`/srv/data2` is not below `/srv/data`). */
export function isWithin(p: string, base: string): boolean {
  const b = path.normalize(base);
  const n = path.normalize(p);
  return n === b || n.startsWith(b.endsWith(path.sep) ? b : `${b}${path.sep}`);
}

/** Parses LABEL_VOLUMES; throws LaunchError naming an item that is not HOST:CONTAINER[:ro|:rw]. */
export function parseHostMounts(taskId: string, spec: string | undefined): HostMount[] {
  if (spec === undefined || spec.trim() === "") return [];
  const mounts: HostMount[] = [];
  for (const raw of spec.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const parts = item.split(":");
    const [host, target, mode] = parts;
    if (parts.length < 2 || parts.length > 3 || !host || !target) {
      throw new LaunchError(taskId, `${FIELD}: "${item}" is not HOST:CONTAINER[:ro|:rw]`);
    }
    if (mode !== undefined && mode !== "ro" && mode !== "rw") {
      throw new LaunchError(taskId, `${FIELD}: "${item}" has mode "${mode}", not ro or rw`);
    }
    if (!path.isAbsolute(host) || !path.isAbsolute(target)) {
      throw new LaunchError(taskId, `${FIELD}: "${item}": both paths must be absolute`);
    }
    mounts.push({ item, host, target: path.normalize(target), mode });
  }
  return mounts;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
}

/**
 * The docker binds for LABEL_VOLUMES, each naming the resolved host path. Throws LaunchError
 * for a path that does not exist (Docker would create it, following symlinks on the way) or
 * that resolves outside every allowed host path, naming the path and what it resolved to.
 * Allowed paths that do not exist (yet) allow nothing.
 */
export function hostBinds(
  taskId: string,
  spec: string | undefined,
  allowed: readonly string[],
  resolve: ResolvePath,
): string[] {
  const mounts = parseHostMounts(taskId, spec);
  if (mounts.length === 0) return [];
  const roots = allowed.flatMap((a) => {
    try {
      return [resolve(a)];
    } catch {
      return [];
    }
  });
  const list = allowed.length > 0 ? allowed.join(", ") : "none";
  return mounts.map(({ host, target, mode }) => {
    const spelled = path.normalize(host);
    let real: string;
    try {
      real = resolve(spelled);
    } catch (err) {
      // Checked before existence, so that a missing path outside says "not allowed", as ever.
      if (!allowed.some((a) => isWithin(spelled, a))) {
        throw new LaunchError(
          taskId,
          `${FIELD}: host path "${host}" is not allowed on this agent (allowed host paths: ${list})`,
        );
      }
      throw new LaunchError(
        taskId,
        `${FIELD}: host path "${host}" cannot be resolved (${errorCode(err)}); it must exist on the agent`,
      );
    }
    if (!roots.some((r) => isWithin(real, r))) {
      const led = real === spelled ? "" : ` (it resolves to "${real}")`;
      throw new LaunchError(
        taskId,
        `${FIELD}: host path "${host}"${led} is not allowed on this agent (allowed host paths: ${list})`,
      );
    }
    return `${real}:${target}${mode ? `:${mode}` : ""}`;
  });
}
