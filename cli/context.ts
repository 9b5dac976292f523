// The I/O around config.ts: reads the environment, the config file and the token file,
// and resolves what a command needs (where the master is, which token, which data dir).
import { type Layers, parseConfigText, resolveSettings } from "./config.js";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { formatMasterList } from "../common/master-list.js";
import type { ClientTarget } from "./clients.js";
import { errnoSentence } from "./errno-text.js";
import { UsageError } from "./errors.js";
import { resolveTransport } from "./transport.js";

/** Options every client command takes (commander's camelCase keys). */
export interface GlobalFlags {
  master?: string;
  token?: string;
  config?: string;
}

/** Expands a leading "~/" and makes the path absolute. */
export function expandPath(path: string): string {
  if (path === "~") return homedir();
  if (path.startsWith("~/")) return join(homedir(), path.slice(2));
  return resolve(path);
}

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.YARD_HOME ? expandPath(env.YARD_HOME) : join(homedir(), ".yard");
}

/**
 * Builds the layers for config.ts: the config file is --config, else YARD_CONFIG, else
 * config.yaml in the data dir when it exists. A file named explicitly must exist.
 */
export function loadLayers(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Layers {
  const explicit =
    typeof flags.config === "string"
      ? { path: flags.config, where: "--config" }
      : env.YARD_CONFIG
        ? { path: env.YARD_CONFIG, where: "YARD_CONFIG" }
        : undefined;
  const home = typeof flags.dataDir === "string" ? expandPath(flags.dataDir) : defaultHome(env);
  const path = explicit ? expandPath(explicit.path) : join(home, "config.yaml");
  let file: Record<string, unknown> = {};
  if (explicit || existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const why = errnoSentence(err);
      throw new UsageError(
        `${explicit?.where ?? "config file"} ${JSON.stringify(path)}: cannot read it (${why})`,
      );
    }
    file = parseConfigText(text, path);
  }
  return { flags, env, file, fileName: path, defaults: { dataDir: join(homedir(), ".yard") } };
}

/** The data dir (yard home) after flags > YARD_HOME > config > ~/.yard. */
export function resolveHome(layers: Layers): string {
  return expandPath(resolveSettings(["dataDir"], layers).dataDir!);
}

/** Reads `<home>/token` if it exists; a token file that exists but is empty counts as none. */
export function readTokenFile(home: string): string | undefined {
  const path = join(home, "token");
  if (!existsSync(path)) return undefined;
  const token = readFileSync(path, "utf8").trim();
  return token === "" ? undefined : token;
}

/** The token after flags > YARD_TOKEN > config > the token file in the data dir. */
export function resolveToken(layers: Layers): string | undefined {
  return resolveSettings(["token"], layers).token ?? readTokenFile(resolveHome(layers));
}

/** Where a client command dials the master and with which token. */
export function clientTarget(flags: GlobalFlags & Record<string, unknown>): ClientTarget {
  const layers = loadLayers(flags);
  const { master } = resolveSettings(["master"], layers);
  const transport = resolveTransport(layers, "admin", "operator --group admin");
  return { address: formatMasterList(master!), token: resolveToken(layers), tls: transport.tls ?? null };
}
