// yardctl completion bash|zsh: the script bash parses, and completes what the command tree
// holds (commands, subcommands, flags, kinds, -o values), checked by running bash itself.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { commandNodes } from "../../cli/completion.js";
import { buildProgram } from "../../cli/program.js";

const YARDCTL = fileURLToPath(new URL("../../cli/yardctl.js", import.meta.url));
let dir: string;
let script: string;

function yardctl(args: string[]) {
  return spawnSync(process.execPath, [YARDCTL, ...args], { encoding: "utf8", timeout: 15_000 });
}

/** What `_yardctl` offers for the words typed so far, the last being the one completed. */
function complete(words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const r = spawnSync(
    "bash",
    [
      "-c",
      `source "$1"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _yardctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
      "bash",
      script,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "yardctl-completion-"));
  const r = yardctl(["completion", "bash"]);
  assert.equal(r.status, 0, r.stderr);
  script = join(dir, "yardctl.bash");
  writeFileSync(script, r.stdout);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("yardctl completion bash", () => {
  test("bash parses it", () => {
    const r = spawnSync("bash", ["-n", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });

  const cases: { words: string[]; offers: string[]; not?: string[] }[] = [
    { words: ["yardctl", "ge"], offers: ["get"] },
    { words: ["yardctl", "ro"], offers: ["rollout"] },
    { words: ["yardctl", "rollout", "p"], offers: ["pause", "promote"] },
    {
      words: ["yardctl", "get", ""],
      offers: ["agents", "frameworks", "tasks", "jobs", "apps", "deployments", "releases", "masters"],
    },
    { words: ["yardctl", "get", "tasks", "-o", ""], offers: ["table", "wide", "json", "yaml"] },
    { words: ["yardctl", "get", "tasks", "--output", "y"], offers: ["yaml"] },
    { words: ["yardctl", "logs", "t1", "--t"], offers: ["--tail", "--token"], not: ["--follow"] },
    {
      words: ["yardctl", "release", "status", "web@1", "-o", ""],
      offers: ["table", "json", "yaml"],
      not: ["wide"],
    },
    { words: ["yardctl", "completion", ""], offers: ["bash", "zsh"] },
    // After "--" the words are the command yardctl runs: nothing of yardctl's is offered.
    { words: ["yardctl", "run", "--", "g"], offers: [] },
  ];
  for (const c of cases) {
    test(c.words.join(" "), () => {
      const got = complete(c.words);
      if (c.offers.length === 0) assert.deepEqual(got, []);
      for (const w of c.offers) assert.ok(got.includes(w), `${w} in ${got.join(" ")}`);
      for (const w of c.not ?? []) assert.ok(!got.includes(w), `${w} not in ${got.join(" ")}`);
    });
  }

  test("every command and flag of the program is in the script", () => {
    const text = yardctl(["completion", "bash"]).stdout;
    for (const node of commandNodes(buildProgram())) {
      if (node.path !== "") assert.ok(text.includes(`"${node.path}")`), node.path);
      for (const flag of node.flags) assert.ok(text.includes(flag), `${node.path} ${flag}`);
    }
  });
});

describe("yardctl completion zsh", () => {
  test("it loads the same function through bashcompinit, and bash parses its body", () => {
    const r = yardctl(["completion", "zsh"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^#compdef yardctl\n/);
    assert.match(r.stdout, /bashcompinit/);
    const body = join(dir, "zsh-body.bash");
    writeFileSync(body, r.stdout.replace(/^autoload .*$/gm, ""));
    const n = spawnSync("bash", ["-n", body], { encoding: "utf8" });
    assert.equal(n.status, 0, n.stderr);
  });
});
