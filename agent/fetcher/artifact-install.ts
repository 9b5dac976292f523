// Putting a verified artifact to use: `docker load` for images, unpacking into a process
// task's sandbox for "tar", a copy for "file". The cache file is never handed to a task
// itself, so a task cannot corrupt what the agent seeds to its peers.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ArtifactKind } from "./artifact-cache.js";
import { guardUnpackedTree } from "./unpack-guard.js";

/** A tool the agent runs (tar, docker) failed; the message carries its stderr. */
export class InstallError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InstallError";
  }
}

/** How long `docker load` may take before it is killed (default; AgentOptions.dockerLoadTimeoutMs). */
export const DEFAULT_DOCKER_LOAD_TIMEOUT_MS = 10 * 60_000;
/** How long unpacking a tar into a sandbox may take (default; AgentOptions.tarTimeoutMs). */
export const DEFAULT_TAR_TIMEOUT_MS = 5 * 60_000;

function duration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

/**
 * Runs a tool to completion within `timeoutMs`. A tool that hangs (an engine that stops
 * answering mid-load, a FIFO in an archive) would otherwise hold its launch forever: past the
 * limit its whole process group is killed and the install fails with the reason.
 */
function run(what: string, cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that the kill reaches whatever the tool started.
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      // Not waiting for "close": a grandchild may hold the pipes open.
      settle(() => reject(new InstallError(`${what} did not finish within ${duration(timeoutMs)}; killed`)));
    }, timeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    child.on("error", (e) => settle(() => reject(new InstallError(`${cmd}: ${e.message}`, { cause: e }))));
    child.on("close", (code, signal) => {
      settle(() => {
        if (code === 0) resolve(out);
        else reject(new InstallError(`${what} failed (${signal ?? `exit ${code}`}): ${err.trim()}`));
      });
    });
  });
}

/**
 * `docker load -i FILE` against `dockerHost` (e.g. unix:///run/docker.sock; the CLI's own
 * default when unset). Resolves the image names docker printed ("Loaded image: ...").
 */
export async function dockerLoad(
  file: string,
  dockerHost?: string,
  timeoutMs = DEFAULT_DOCKER_LOAD_TIMEOUT_MS,
): Promise<string[]> {
  const args = dockerHost ? ["-H", dockerHost, "load", "-i", file] : ["load", "-i", file];
  const out = await run("docker load", "docker", args, timeoutMs);
  return [...out.matchAll(/Loaded image(?: ID)?: (\S+)/g)].map((m) => m[1]!);
}

/**
 * Makes the artifact available in a process task's sandbox: a "tar" is unpacked into it,
 * a "file" is copied into it under its own name. A "docker-image" needs no sandbox. Either
 * way the sandbox is then checked (unpack-guard.ts): special bits stripped, links that lead
 * outside refused, and the install fails naming them.
 */
export async function installIntoSandbox(
  kind: ArtifactKind,
  file: string,
  sandbox: string,
  tarTimeoutMs = DEFAULT_TAR_TIMEOUT_MS,
): Promise<void> {
  fs.mkdirSync(sandbox, { recursive: true });
  let failed: unknown;
  if (kind === "tar") {
    // --no-same-owner: files belong to the agent's user, whatever the archive says.
    await run("tar -x", "tar", ["-x", "--no-same-owner", "-f", file, "-C", sandbox], tarTimeoutMs).catch(
      (err) => {
        failed = err;
      },
    );
  } else if (kind === "file") {
    await fs.promises.copyFile(file, path.join(sandbox, path.basename(file)));
  } else return;
  // Also after a failed tar: what it did unpack must not stay behind unchecked.
  try {
    await guardUnpackedTree(sandbox);
  } catch (err) {
    if (!failed) throw err;
    throw new InstallError(`${(err as Error).message}; ${(failed as Error).message}`, { cause: failed });
  }
  if (failed) throw failed;
}
