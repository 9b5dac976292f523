// yardctl release push|ls|rm|status|torrent|stage: the master's release store and its
// BitTorrent distributor (docs/releases.md).
import { CliError, ExitCode, fromGrpcError, UsageError } from "../errors.js";
import { once } from "node:events";
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Command } from "commander";
import { CHANNEL_OPTIONS } from "../../common/grpc.js";
import { channelCredentials } from "../../common/tls.js";
import {
  type AgentFetch,
  ListReleasesResponse,
  type PushHeader,
  type PushResponse,
  Release,
  type ReleaseCopyState,
  ReleaseServiceClient,
  ReleaseStatus,
  type StageRequest,
  type StageStatus,
  type TorrentFile,
} from "../../proto/gen/yard/v1/release.js";
import { type ClientTarget, LeaderClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { errnoSentence } from "../errno-text.js";
import { addOutputOption, isDataFormat, LIST_FORMATS, parseOutput, printData } from "../output-format.js";
import { archiveDirectory } from "../release-archive.js";
import { releasesTable } from "../release-views.js";
import { runTool } from "../run-tool.js";
import { addClientOptions, collect, print } from "../options.js";
import { renderTable } from "../table.js";
import { formatAge, formatBytes } from "../views.js";

const CHUNK_BYTES = 1 << 20;
/** `release status` is one release, not a list: no wide view. */
const STATUS_FORMATS = ["table", "json", "yaml"] as const;
const RELEASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** The master's ReleaseService (the leader's, among several), with errors phrased for the operator. */
export class ReleaseClient extends LeaderClient<ReleaseServiceClient> {
  constructor(target: ClientTarget) {
    const creds = channelCredentials(target.tls, { serverKind: "master" });
    super((address) => new ReleaseServiceClient(address, creds, CHANNEL_OPTIONS), target, "the master");
  }

  list(): Promise<ListReleasesResponse> {
    return this.call(this.client.list, {});
  }
  remove(release: string): Promise<unknown> {
    return this.call(this.client.remove, { release });
  }
  status(release: string): Promise<ReleaseStatus> {
    return this.call(this.client.status, { release });
  }
  getTorrent(release: string): Promise<TorrentFile> {
    return this.call(this.client.getTorrent, { release });
  }

  grantTorrent(release: string, host: string, ttlSeconds: number): Promise<TorrentFile> {
    return this.call(this.client.grantTorrent, { release, host, ttlSeconds });
  }
  stage(req: StageRequest): Promise<StageStatus> {
    return this.call(this.client.stage, req);
  }
  watchStage(req: StageRequest): ClientReadableStream<StageStatus> {
    return this.client.watchStage(req, this.md);
  }

  /**
   * Streams `path` after `header` to the leader; `onProgress` gets the bytes sent so far. A
   * master that does not lead (or dies before it answers) refuses the push: it is sent
   * again, from the start, to the leader (a push of the same bytes is idempotent).
   */
  async push(header: PushHeader, path: string, onProgress: (sent: number) => void): Promise<PushResponse> {
    try {
      return await this.onLeader((client) => this.pushTo(client, header, path, onProgress));
    } catch (err) {
      throw fromGrpcError(err, this.peer);
    }
  }

  private async pushTo(
    client: ReleaseServiceClient,
    header: PushHeader,
    path: string,
    onProgress: (sent: number) => void,
  ): Promise<PushResponse> {
    let call: ReturnType<ReleaseServiceClient["push"]> | undefined;
    const response = new Promise<PushResponse>((resolve, reject) => {
      call = client.push(this.md, (err, res) => (err ? reject(err) : resolve(res)));
    });
    const stream = call!;
    // A refusal (e.g. a bad name) may end the call while bytes are still being sent.
    let refused = false;
    response.catch(() => {
      refused = true;
    });
    stream.write({ header, data: Buffer.alloc(0) });
    let sent = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      if (refused) break;
      const data = chunk as Buffer;
      sent += data.length;
      if (!stream.write({ data }))
        await Promise.race([once(stream, "drain"), response.catch(() => undefined)]);
      onProgress(sent);
    }
    stream.end();
    return response;
  }
}

/** A one-line progress bar on stderr, redrawn in place when stderr is a terminal. */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started = Date.now();
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, force = false): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.out.write(`\r${progressLine(this.label, done, this.total, (now - this.started) / 1000)}\x1b[K`);
  }

  finish(done: number): void {
    if (this.out.isTTY) {
      this.update(done, true);
      this.out.write("\n");
    }
  }
}

/** "label [#####.....]  50% 10MiB/20MiB 5MiB/s". Pure. */
export function progressLine(label: string, done: number, total: number, seconds: number): string {
  const width = 30;
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.round(frac * width);
  const rate = seconds > 0 ? done / seconds : 0;
  return `${label} [${"#".repeat(full)}${".".repeat(width - full)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`;
}

function checkRelease(text: string): string {
  if (!RELEASE_PATTERN.test(text)) {
    throw new UsageError(`"${text}" is not NAME@VERSION (e.g. web@1.0)`);
  }
  return text;
}

interface Artifact {
  path: string;
  kind: "file" | "tar" | "docker-image";
  fileName: string;
  image: string;
}

/**
 * What to upload: a file as is, a directory as a reproducible tarball (the same tree gives
 * the same bytes, so a second push is a no-op: release-archive.ts), or `docker save` of an image.
 */
async function prepareArtifact(
  release: string,
  path: string | undefined,
  image: string | undefined,
  work: string,
): Promise<Artifact> {
  const base = release.replace("@", "-");
  if (image !== undefined) {
    if (path !== undefined) throw new UsageError("release push: give a PATH or --image, not both");
    const out = join(work, `${base}.tar`);
    await runTool("docker", ["save", "-o", out, image], `docker save ${image}`);
    return { path: out, kind: "docker-image", fileName: `${base}.tar`, image };
  }
  if (path === undefined)
    throw new UsageError("release push: give a PATH (a file or a directory) or --image IMG");
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw new UsageError(`release push: ${JSON.stringify(path)}: ${errnoSentence(err)}`);
  }
  if (st.isDirectory()) {
    const out = join(work, `${base}.tar`);
    await archiveDirectory(path, out);
    return { path: out, kind: "tar", fileName: `${base}.tar`, image: "" };
  }
  if (!st.isFile())
    throw new UsageError(`release push: ${JSON.stringify(path)} is neither a file nor a directory`);
  return { path, kind: "file", fileName: basename(path), image: "" };
}

function fetchRow(a: AgentFetch): string[] {
  const pct = a.size > 0 ? `${Math.floor((Math.min(a.downloaded, a.size) / a.size) * 100)}%` : "-";
  return [
    a.agentId,
    a.hostname || "-",
    a.state,
    `${pct} ${formatBytes(a.downloaded)}/${formatBytes(a.size)}`,
    a.state === "FETCHING" ? `${formatBytes(a.downloadRate)}/s` : "-",
    formatBytes(a.uploaded),
    a.error || "-",
  ];
}

const FETCH_HEADERS = ["AGENT", "HOSTNAME", "STATE", "PROGRESS", "RATE", "UPLOADED", "ERROR"];

/** The master's check of its copy: corrupt (why), sound (when checked), not checked yet. */
function atRest(r: Release): string {
  if (r.corrupt) return `CORRUPT: ${r.corruptMessage} (push it again to repair it)`;
  if (r.verifiedAt <= 0) return "not checked yet";
  return `sha256 verified ${formatAge(Date.now() / 1000 - r.verifiedAt)} ago`;
}

/** HA: "1/1 (m2)", or "0/1 UNDER-REPLICATED". */
function copiesText(c: ReleaseCopyState): string {
  const held = `${c.copies}/${c.required} on standbys${c.holders.length ? ` (${c.holders.join(", ")})` : ""}`;
  return c.copies < c.required ? `${held} UNDER-REPLICATED` : held;
}

function stageSummary(s: StageStatus): string {
  const done = s.agents.filter((a) => a.state === "DONE").length;
  const verdict = s.complete ? "complete" : s.failed ? "failed" : "in progress";
  return `${s.release}: ${done}/${s.agents.length} agents hold it (${verdict})`;
}

export function registerRelease(program: Command): void {
  const release = program.command("release").description("push releases and distribute them to agents");

  addClientOptions(
    release
      .command("push")
      .description("upload a file, a directory (tarred) or a docker image as NAME@VERSION")
      .argument("<release>", "NAME@VERSION")
      .argument("[path]", "a file or a directory")
      .option("--image <image>", "a local docker image to push (docker save)"),
  ).action(async (name: string, path: string | undefined, flags: Record<string, unknown>) => {
    const rel = checkRelease(name);
    const client = new ReleaseClient(clientTarget(flags));
    const work = mkdtempSync(join(tmpdir(), "yard-push-"));
    try {
      const art = await prepareArtifact(rel, path, flags.image as string | undefined, work);
      const size = statSync(art.path).size;
      const [n, v] = rel.split("@") as [string, string];
      const bar = new ProgressBar(`push ${rel}`, size);
      const res = await client.push(
        { name: n, version: v, kind: art.kind, fileName: art.fileName, size, image: art.image },
        art.path,
        (sent) => bar.update(sent),
      );
      bar.finish(size);
      const r = res.release!;
      if (res.unchanged) print(`${rel} unchanged: the master holds these bytes already (sha256 ${r.sha256})`);
      else print(`pushed ${rel}: ${formatBytes(r.size)}, sha256 ${r.sha256}, info hash ${r.infoHash}`);
      if (res.copies) print(`copies: ${copiesText(res.copies)}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
      client.close();
    }
  });

  addClientOptions(
    addOutputOption(release.command("ls"), LIST_FORMATS).description(
      "list the releases the master stores (the same as get releases)",
    ),
  ).action(async (flags: Record<string, unknown>) => {
    const output = parseOutput(flags.output, LIST_FORMATS);
    const client = new ReleaseClient(clientTarget(flags));
    try {
      const res = await client.list();
      if (isDataFormat(output)) return printData(output, ListReleasesResponse.toJSON(res));
      print(releasesTable(res, Date.now() / 1000, output === "wide"));
    } finally {
      client.close();
    }
  });

  addClientOptions(
    release
      .command("rm")
      .description("remove a release (refused while a framework pins it or a task uses it)")
      .argument("<release>", "NAME@VERSION"),
  ).action(async (name: string, flags: Record<string, unknown>) => {
    const rel = checkRelease(name);
    const client = new ReleaseClient(clientTarget(flags));
    try {
      await client.remove(rel);
      print(`removed ${rel}`);
    } finally {
      client.close();
    }
  });

  addClientOptions(
    addOutputOption(release.command("status"), STATUS_FORMATS)
      .description("whether the master seeds a release, and which agents hold or fetch it")
      .argument("<release>", "NAME@VERSION"),
  ).action(async (name: string, flags: Record<string, unknown>) => {
    const rel = checkRelease(name);
    const output = parseOutput(flags.output, STATUS_FORMATS);
    const client = new ReleaseClient(clientTarget(flags));
    try {
      const s = await client.status(rel);
      if (isDataFormat(output)) return printData(output, ReleaseStatus.toJSON(s));
      const r = s.release ?? Release.fromPartial({});
      print(
        [
          `release:      ${rel} (${r.kind}${r.image ? ` ${r.image}` : ""})`,
          `size:         ${formatBytes(r.size)} (${r.size} bytes)`,
          `sha256:       ${r.sha256}`,
          `info hash:    ${r.infoHash} (pieces of ${formatBytes(r.pieceLength)})`,
          `at rest:      ${atRest(r)}`,
          `seeded:       ${s.seeded ? "yes" : r.corrupt ? "no (corrupt)" : "no"}`,
          ...(s.copies ? [`copies:       ${copiesText(s.copies)}`] : []),
          `agents:       ${s.agents.filter((a) => a.state === "DONE").length} hold it, ${s.agents.filter((a) => a.state === "FETCHING" || a.state === "VERIFYING" || a.state === "PENDING").length} fetching`,
        ].join("\n"),
      );
      if (s.agents.length > 0) print(`\n${renderTable(FETCH_HEADERS, s.agents.map(fetchRow))}`);
    } finally {
      client.close();
    }
  });

  addClientOptions(
    release
      .command("torrent")
      .description(
        "write the release's .torrent (BitTorrent v1) to stdout or to a file; with --grant, one that an outside client on HOST may fetch",
      )
      .argument("<release>", "NAME@VERSION")
      .option("-f, --file <path>", "write it to this file instead of stdout")
      .option("-o, --output <path>", "the same as --file")
      .option(
        "--grant <host>",
        "let HOST (address or name) announce and fetch this release from the master's seed",
      )
      .option("--ttl <duration>", "how long the grant lasts, e.g. 90s, 30m, 1h (at most 24h; default 1h)"),
  ).action(async (name: string, flags: Record<string, unknown>) => {
    const rel = checkRelease(name);
    const file = (flags.file ?? flags.output) as string | undefined;
    const host = flags.grant as string | undefined;
    if (flags.ttl !== undefined && host === undefined) {
      throw new UsageError("release torrent: --ttl is the length of a grant; give --grant HOST too");
    }
    const ttlSeconds = flags.ttl === undefined ? 0 : parseTtl(String(flags.ttl));
    if (!file && process.stdout.isTTY) {
      throw new UsageError(
        `release torrent: stdout is a terminal; redirect it (> ${rel.replace("@", "-")}.torrent) or pass --file`,
      );
    }
    const client = new ReleaseClient(clientTarget(flags));
    try {
      const t =
        host === undefined ? await client.getTorrent(rel) : await client.grantTorrent(rel, host, ttlSeconds);
      if (file) writeFileSync(file, t.torrent);
      else process.stdout.write(t.torrent);
      if (host !== undefined) {
        process.stderr.write(
          `granted ${rel} to ${host} (${t.grantAddresses.join(", ")}) until ${new Date(t.grantExpiresAt * 1000).toISOString()}\n`,
        );
      }
    } finally {
      client.close();
    }
  });

  addClientOptions(
    release
      .command("stage")
      .description("make agents fetch a release now (all active agents unless --agent is given)")
      .argument("<release>", "NAME@VERSION")
      .option("--agent <id>", "an agent to stage on, repeatable", collect)
      .option("-w, --watch", "follow the progress until every agent holds it (exit 1 if one fails)"),
  ).action(async (name: string, flags: Record<string, unknown>) => {
    const req: StageRequest = {
      release: checkRelease(name),
      agentIds: (flags.agent as string[] | undefined) ?? [],
    };
    const client = new ReleaseClient(clientTarget(flags));
    try {
      let last = await client.stage(req);
      if (flags.watch) {
        const tty = process.stderr.isTTY;
        let lines = 0;
        let lastStates = "";
        await client
          .consume(
            () => client.watchStage(req),
            (s) => {
              last = s;
              if (tty) {
                const text = `${stageSummary(s)}\n${renderTable(FETCH_HEADERS, s.agents.map(fetchRow))}`;
                if (lines > 0) process.stderr.write(`\x1b[${lines}A\x1b[J`);
                process.stderr.write(text);
                lines = text.split("\n").length - 1;
              } else {
                const states = s.agents.map((a) => `${a.agentId}=${a.state}`).join(" ");
                if (states !== lastStates) process.stderr.write(`${stageSummary(s)}: ${states}\n`);
                lastStates = states;
              }
              return undefined;
            },
          )
          .catch((err: unknown) => {
            throw client.streamError(err);
          });
      }
      print(stageSummary(last));
      if (!flags.watch) print(renderTable(FETCH_HEADERS, last.agents.map(fetchRow)));
      if (last.failed) {
        const bad = last.agents.filter((a) => a.state === "FAILED").map((a) => `${a.agentId}: ${a.error}`);
        throw new CliError(`staging ${req.release} failed on ${bad.join("; ")}`, ExitCode.FAILURE);
      }
    } finally {
      client.close();
    }
  });
}

/** A grant's length: seconds, or a number with s, m or h; at most a day. */
export function parseTtl(raw: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(raw.trim());
  const secs = m
    ? Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? "s") as "s" | "m" | "h"]
    : Number.NaN;
  if (!(secs >= 1 && secs <= 86_400)) {
    throw new UsageError(
      `release torrent: --ttl "${raw}" is not a duration between 1s and 24h (e.g. 90s, 30m, 1h)`,
    );
  }
  return secs;
}
