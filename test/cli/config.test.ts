import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Layers, parseConfigText, resolveSetting, resolveSettings, SETTINGS } from "../../cli/config.js";
import {
  agentOptions,
  frameworkEtcdOptions,
  masterHaOptions,
  masterOptions,
} from "../../cli/daemon-options.js";
import { HA_DEFAULTS } from "../../master/ha/ha-master-daemon.js";
import { ExitCode, UsageError } from "../../cli/errors.js";

function layers(partial: Partial<Layers>): Layers {
  return { flags: {}, env: {}, file: {}, fileName: "/etc/yard.yaml", ...partial };
}

/** Layers of a daemon's settings: these tests are about the settings, not about certificates. */
function daemonLayers(partial: Partial<Layers>): Layers {
  const l = layers(partial);
  return { ...l, file: { insecure: true, ...l.file } };
}

describe("config precedence: flag > env > config file > default", () => {
  const cases: { name: string; l: Partial<Layers>; want: unknown; source: string | undefined }[] = [
    {
      name: "flag wins over all",
      l: { flags: { cpus: "4" }, env: { YARD_CPUS: "3" }, file: { cpus: 2 } },
      want: 4,
      source: "flag",
    },
    { name: "env wins over file", l: { env: { YARD_CPUS: "3" }, file: { cpus: 2 } }, want: 3, source: "env" },
    { name: "file wins over default", l: { file: { port: 7000 } }, want: 7000, source: "config" },
    {
      name: "an empty env var counts as unset",
      l: { env: { YARD_CPUS: "" }, file: { cpus: 2 } },
      want: 2,
      source: "config",
    },
    { name: "nothing set: undefined", l: {}, want: undefined, source: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const key = c.name.startsWith("file wins") ? "port" : "cpus";
      const r = resolveSetting(key, SETTINGS[key as "cpus"], layers(c.l));
      assert.equal(r.value, c.want);
      assert.equal(r.source, c.source);
    });
  }

  test("defaults: spec default, overridden by the caller's defaults", () => {
    assert.deepEqual(resolveSettings(["master", "port", "httpPort"], layers({})), {
      master: ["127.0.0.1:7070"],
      port: 7070,
      httpPort: 7071,
    });
    assert.equal(
      resolveSettings(["dataDir"], layers({ defaults: { dataDir: "/home/u/.yard" } })).dataDir,
      "/home/u/.yard",
    );
  });

  test("env var names: YARD_ + SCREAMING_SNAKE, data dir is YARD_HOME", () => {
    const l = layers({
      env: { YARD_HTTP_PORT: "9001", YARD_HOME: "/srv/yard", YARD_MASTER: "10.0.0.1:7070" },
    });
    assert.deepEqual(resolveSettings(["httpPort", "dataDir", "master"], l), {
      httpPort: 9001,
      dataDir: "/srv/yard",
      master: ["10.0.0.1:7070"],
    });
  });

  test("repeatable --attribute flag, YARD_ATTRIBUTES list, and a YAML map all give attributes", () => {
    const want = [
      { name: "zone", value: "a" },
      { name: "rack", value: "r1" },
    ];
    assert.deepEqual(
      resolveSettings(["attributes"], layers({ flags: { attribute: ["zone=a", "rack=r1"] } })).attributes,
      want,
    );
    assert.deepEqual(
      resolveSettings(["attributes"], layers({ env: { YARD_ATTRIBUTES: "zone=a,rack=r1" } })).attributes,
      want,
    );
    assert.deepEqual(
      resolveSettings(["attributes"], layers({ file: { attributes: { zone: "a", rack: "r1" } } })).attributes,
      want,
    );
  });

  test("an empty repeatable flag falls through to the env", () => {
    const l = layers({ flags: { attribute: [] }, env: { YARD_ATTRIBUTES: "zone=b" } });
    assert.deepEqual(resolveSettings(["attributes"], l).attributes, [{ name: "zone", value: "b" }]);
  });
});

describe("config errors name where the bad value came from", () => {
  const cases: { name: string; l: Partial<Layers>; key: "cpus" | "ports" | "master"; message: string }[] = [
    { name: "flag", l: { flags: { cpus: "-1" } }, key: "cpus", message: '--cpus "-1": must not be negative' },
    {
      name: "env",
      l: { env: { YARD_CPUS: "lots" } },
      key: "cpus",
      message: 'YARD_CPUS "lots": not a number',
    },
    {
      name: "config file",
      l: { file: { ports: "5-3" } },
      key: "ports",
      message: 'ports in /etc/yard.yaml "5-3": "5-3" ends before it begins',
    },
    {
      name: "host:port",
      l: { flags: { master: "nohost" } },
      key: "master",
      message: '--master "nohost": not HOST:PORT (e.g. 127.0.0.1:7070)',
    },
    {
      name: "a master list with one bad entry",
      l: { env: { YARD_MASTER: "a:7070, b" } },
      key: "master",
      message: 'YARD_MASTER "a:7070, b": entry "b": not HOST:PORT (e.g. 127.0.0.1:7070)',
    },
    {
      name: "a master list in the config file",
      l: { file: { master: ["a:7070", "b:x"] } },
      key: "master",
      message: 'master in /etc/yard.yaml ["a:7070","b:x"]: entry "b:x": not HOST:PORT (e.g. 127.0.0.1:7070)',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(
        () => resolveSettings([c.key], layers(c.l)),
        (err: unknown) =>
          err instanceof UsageError && err.message === c.message && err.exitCode === ExitCode.USAGE,
      );
    });
  }

  test("a master list: from a flag with commas, or a YAML list; duplicates dropped", () => {
    assert.deepEqual(resolveSettings(["master"], layers({ flags: { master: "a:1, b:2,a:1" } })).master, [
      "a:1",
      "b:2",
    ]);
    assert.deepEqual(resolveSettings(["master"], layers({ file: { master: ["a:1", "c:3"] } })).master, [
      "a:1",
      "c:3",
    ]);
  });

  test("a bad value in a lower layer is not looked at when a higher one is set", () => {
    assert.equal(
      resolveSettings(["cpus"], layers({ flags: { cpus: "1" }, env: { YARD_CPUS: "bad" } })).cpus,
      1,
    );
  });
});

describe("parseConfigText", () => {
  test("kebab-case and camelCase keys, an empty file", () => {
    assert.deepEqual(parseConfigText("master: 10.0.0.1:7070\nhttp-port: 8081\nkillGrace: 3\n", "c.yaml"), {
      master: "10.0.0.1:7070",
      httpPort: 8081,
      killGrace: 3,
    });
    assert.deepEqual(parseConfigText("", "c.yaml"), {});
  });

  test("an unknown key is an error that names it", () => {
    assert.throws(() => parseConfigText("cpu: 4\n", "c.yaml"), /config file c.yaml: unknown key "cpu"/);
  });

  test("not a map, or not YAML", () => {
    assert.throws(() => parseConfigText("- a\n- b\n", "c.yaml"), /must be a map/);
    assert.throws(() => parseConfigText("a: [1, 2\n", "c.yaml"), /c.yaml is not valid YAML/);
  });
});

describe("distribution and docker settings", () => {
  const yaml = [
    "data-dir: /srv/yard",
    "docker-socket: unix:///run/docker.sock",
    "allowed-host-paths: [/srv/data, /var/log]",
    "cache-dir: /srv/cache",
    "cache-size: 2048",
    "upload-rate: 10M",
    "download-rate: 512K",
    "peer-port: 6881",
    "peer-host: 10.0.0.5",
    "advertise-host: master.example",
    "seed-port: 6882",
    "seed-upload-limit: 1G",
  ].join("\n");

  test("a config file carries the agent's and the master's settings", () => {
    const l = daemonLayers({ file: parseConfigText(yaml, "yard.yaml") });
    const a = agentOptions(l, "tok");
    assert.equal(a.dockerSocket, "unix:///run/docker.sock");
    assert.deepEqual(a.allowedHostPaths, ["/srv/data", "/var/log"]);
    assert.equal(a.cacheDir, "/srv/cache");
    assert.equal(a.cacheSizeMiB, 2048);
    assert.equal(a.uploadRate, 10 * 1024 * 1024);
    assert.equal(a.downloadRate, 512 * 1024);
    assert.equal(a.peerPort, 6881);
    assert.equal(a.peerHost, "10.0.0.5");
    const m = masterOptions(l, "tok");
    assert.equal(m.advertiseHost, "master.example");
    assert.equal(m.peerPort, 6882);
    assert.equal(m.seedUploadLimit, 1024 ** 3);
  });

  test("flags and env vars win over the file; the master's seed port is its own", () => {
    const l = daemonLayers({
      file: parseConfigText(yaml, "yard.yaml"),
      flags: { seedUploadLimit: "20M", allowHostPath: ["/a"] },
      env: { YARD_UPLOAD_RATE: "1K", YARD_SEED_PORT: "0" },
    });
    assert.equal(masterOptions(l, "tok").seedUploadLimit, 20 * 1024 * 1024);
    assert.equal(masterOptions(l, "tok").peerPort, 0);
    assert.deepEqual(agentOptions(l, "tok").allowedHostPaths, ["/a"]);
    assert.equal(agentOptions(l, "tok").uploadRate, 1024);
    assert.equal(agentOptions(l, "tok").peerPort, 6881);
  });

  test("the agent gone timeout: flag > YARD_AGENT_GONE_TIMEOUT > file, in seconds", () => {
    const file = parseConfigText("data-dir: /srv/yard\nagent-gone-timeout: 600", "yard.yaml");
    assert.equal(masterOptions(daemonLayers({ file }), "tok").agentGoneTimeoutMs, 600_000);
    const env = { YARD_AGENT_GONE_TIMEOUT: "120" };
    assert.equal(masterOptions(daemonLayers({ file, env }), "tok").agentGoneTimeoutMs, 120_000);
    const flags = { agentGoneTimeout: "30" };
    assert.equal(masterOptions(daemonLayers({ file, env, flags }), "tok").agentGoneTimeoutMs, 30_000);
    const home = { YARD_HOME: "/srv/yard" };
    assert.equal(masterOptions(daemonLayers({ env: home }), "tok").agentGoneTimeoutMs, undefined);
    assert.throws(
      () => masterOptions(daemonLayers({ env: { ...home, YARD_AGENT_GONE_TIMEOUT: "soon" } }), "tok"),
      (err: unknown) => err instanceof UsageError && /YARD_AGENT_GONE_TIMEOUT/.test(err.message),
    );
  });

  test("release copies (HA): flag > YARD_RELEASE_COPIES > file; 0 is allowed, a fraction is not", () => {
    const file = parseConfigText(
      "data-dir: /srv/yard\nrelease-copies: 2\nrelease-copy-timeout: 300",
      "yard.yaml",
    );
    const fromFile = masterOptions(daemonLayers({ file }), "tok");
    assert.equal(fromFile.releaseCopies, 2);
    assert.equal(fromFile.releaseCopyTimeoutMs, 300_000);
    const env = { YARD_RELEASE_COPIES: "0" };
    assert.equal(masterOptions(daemonLayers({ file, env }), "tok").releaseCopies, 0);
    const flags = { releaseCopies: "1", releaseCopyTimeout: "30" };
    const fromFlags = masterOptions(daemonLayers({ file, env, flags }), "tok");
    assert.equal(fromFlags.releaseCopies, 1);
    assert.equal(fromFlags.releaseCopyTimeoutMs, 30_000);
    assert.throws(
      () => masterOptions(daemonLayers({ file, flags: { releaseCopies: "1.5" } }), "tok"),
      (err: unknown) =>
        err instanceof UsageError && /release-copies/.test(err.message) && /1\.5/.test(err.message),
    );
  });

  test("bad values are refused, naming the key and the value", () => {
    const cases: [string, RegExp][] = [
      ["upload-rate: fast", /^upload-rate in yard.yaml "fast": "fast" is not a rate/],
      ["seed-upload-limit: -5", /^seed-upload-limit in yard.yaml -5: "-5" is not a rate/],
      [
        "allowed-host-paths: [rel/path]",
        /^allowed-host-paths in yard.yaml "rel\/path": "rel\/path" is not an absolute path/,
      ],
      ["seed-port: 70000", /^seed-port in yard.yaml 70000: not a port/],
    ];
    for (const [text, want] of cases) {
      const l = daemonLayers({
        file: parseConfigText(`data-dir: /srv/yard\n${text}`, "yard.yaml"),
        fileName: "yard.yaml",
      });
      assert.throws(
        () => {
          agentOptions(l, "tok");
          masterOptions(l, "tok");
        },
        (err: unknown) => err instanceof UsageError && want.test(err.message),
        text,
      );
    }
  });
});

describe("HA settings of a master and of a framework", () => {
  test("without --etcd-lease-ttl a master takes its own 3 s default and a framework 5 s", () => {
    const l = layers({ flags: { etcd: "http://127.0.0.1:2379" } });
    const master = masterHaOptions(l)!;
    assert.equal(master.etcd.leaseTtlSeconds, undefined); // the daemon's HA_DEFAULTS
    assert.equal(HA_DEFAULTS.leaseTtlSeconds, 3);
    assert.equal(frameworkEtcdOptions(l)!.leaseTtlSeconds, 5);
    const set = layers({
      flags: { etcd: "http://127.0.0.1:2379", etcdLeaseTtl: "2", etcdMaxTxnOps: "4096" },
    });
    assert.equal(masterHaOptions(set)!.etcd.leaseTtlSeconds, 2);
    assert.equal(masterHaOptions(set)!.etcd.maxTxnOps, 4096);
  });

  test("a bad --etcd-max-txn-ops names the flag and the value", () => {
    assert.throws(
      () => masterHaOptions(layers({ flags: { etcd: "http://127.0.0.1:2379", etcdMaxTxnOps: "many" } })),
      (err: unknown) =>
        err instanceof UsageError && /--etcd-max-txn-ops/.test(err.message) && /many/.test(err.message),
    );
  });
});
