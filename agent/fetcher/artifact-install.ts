// Putting a verified artifact to use: `docker load` for images, unpacking into a process
// task's sandbox for "tar", a copy for "file". The cache file is never handed to a task
// itself, so a task cannot corrupt what the agent seeds to its peers.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ArtifactKind } from "./artifact-cache.js";

/** A tool the agent runs (tar, docker) failed; the message carries its stderr. */
export class InstallError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InstallError";
  }
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    child.on("error", (e) => reject(new InstallError(`${cmd}: ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new InstallError(`${cmd} ${args[0]} failed (${signal ?? `exit ${code}`}): ${err.trim()}`));
    });
  });
}

/**
 * `docker load -i FILE` against `dockerHost` (e.g. unix:///run/docker.sock; the CLI's own
 * default when unset). Resolves the image names docker printed ("Loaded image: ...").
 */
export async function dockerLoad(file: string, dockerHost?: string): Promise<string[]> {
  const args = dockerHost ? ["-H", dockerHost, "load", "-i", file] : ["load", "-i", file];
  const out = await run("docker", args);
  return [...out.matchAll(/Loaded image(?: ID)?: (\S+)/g)].map((m) => m[1]!);
}

/**
 * Makes the artifact available in a process task's sandbox: a "tar" is unpacked into it,
 * a "file" is copied into it under its own name. A "docker-image" needs no sandbox.
 */
export async function installIntoSandbox(kind: ArtifactKind, file: string, sandbox: string): Promise<void> {
  fs.mkdirSync(sandbox, { recursive: true });
  if (kind === "tar") {
    // --no-same-owner: files belong to the agent's user, whatever the archive says.
    await run("tar", ["-x", "--no-same-owner", "-f", file, "-C", sandbox]);
  } else if (kind === "file") {
    await fs.promises.copyFile(file, path.join(sandbox, path.basename(file)));
  }
}
