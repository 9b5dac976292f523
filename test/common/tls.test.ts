// mTLS in a real grpc-js handshake on 127.0.0.1 (common/tls.ts): the server requires a client
// certificate from the cluster CA, refuses one from another CA, an expired one, none at all
// and plaintext; the handler reads the caller's principal from the verified certificate.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ChannelCredentials,
  credentials,
  makeGenericClientConstructor,
  Server,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { type KeyPair, createCa, issueCertificate, issueIntoDir } from "../../common/pki.js";
import { principalFromCertificate } from "../../common/principal.js";
import {
  channelCredentials,
  INSECURE_WARNING,
  loadTlsMaterial,
  resolveTlsMaterial,
  serverCredentials,
  type TlsMaterial,
} from "../../common/tls.js";
import { rsaCaDirCopy } from "../rsa-ca-fixture.js";

const raw = (b: Buffer) => b;
const WHO_AM_I = {
  whoAmI: {
    path: "/yard.test.Echo/WhoAmI",
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};
const EchoClient = makeGenericClientConstructor(WHO_AM_I, "Echo");

function material(ca: KeyPair, leaf: KeyPair): TlsMaterial {
  return { ca: Buffer.from(ca.cert), cert: Buffer.from(leaf.cert), key: Buffer.from(leaf.key) };
}

/** Calls WhoAmI; resolves the principal the server saw, or rejects with the gRPC error. */
function whoAmI(port: number, creds: ChannelCredentials): Promise<unknown> {
  const client = new EchoClient(`127.0.0.1:${port}`, creds);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      WHO_AM_I.whoAmI.path,
      raw,
      raw,
      Buffer.alloc(0),
      { deadline: Date.now() + 20_000 },
      (err: Error | null, res?: Buffer) => {
        client.close();
        if (err) reject(err);
        else resolve(JSON.parse(res!.toString()));
      },
    );
  });
}

describe("mTLS over grpc-js", () => {
  const ca = createCa();
  const otherCa = createCa({ name: "another CA" });
  const masterPair = issueCertificate(ca, { kind: "master", name: "master" });
  const operator = issueCertificate(ca, { kind: "operator", name: "alice", groups: ["admin", "viewer"] });
  const server = new Server();
  let port = 0;
  const dirs: string[] = [];

  before(async () => {
    server.addService(WHO_AM_I, {
      whoAmI: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const peer = call.getAuthContext()?.sslPeerCertificate;
        if (!peer) return cb({ code: status.UNAUTHENTICATED, details: "no certificate" });
        cb(null, Buffer.from(JSON.stringify(principalFromCertificate(peer))));
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", serverCredentials(material(ca, masterPair)), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  after(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("a client certificate from the cluster CA is accepted and names the principal", async () => {
    assert.deepEqual(
      await whoAmI(port, channelCredentials(material(ca, operator), { serverKind: "master" })),
      {
        name: "alice",
        kind: "operator",
        groups: ["admin", "viewer"],
        via: "certificate",
      },
    );
  });

  const refused = (err: unknown) => (err as { code?: number }).code === status.UNAVAILABLE;

  test("a client certificate from another CA is refused", async () => {
    const foreign = issueCertificate(otherCa, { kind: "operator", name: "alice", groups: ["admin"] });
    // The client trusts the cluster CA (it would accept the server), only its own certificate is foreign.
    const creds = credentials.createSsl(
      Buffer.from(ca.cert),
      Buffer.from(foreign.key),
      Buffer.from(foreign.cert),
    );
    await assert.rejects(whoAmI(port, creds), refused);
  });

  test("an expired client certificate is refused", async () => {
    const day = 86_400_000;
    const expired = issueCertificate(ca, {
      kind: "operator",
      name: "alice",
      groups: ["admin"],
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    await assert.rejects(whoAmI(port, channelCredentials(material(ca, expired))), refused);
  });

  test("a TLS client without a certificate is refused", async () => {
    await assert.rejects(whoAmI(port, credentials.createSsl(Buffer.from(ca.cert))), refused);
  });

  test("a plaintext client is refused", async () => {
    await assert.rejects(whoAmI(port, credentials.createInsecure()), refused);
  });

  test("the client refuses a server whose certificate is from another CA", async () => {
    const creds = channelCredentials(
      material(otherCa, issueCertificate(otherCa, { kind: "operator", name: "x" })),
    );
    await assert.rejects(whoAmI(port, creds), refused);
  });

  test("the client refuses a server of the wrong kind (a framework posing as the master)", async () => {
    await assert.rejects(
      whoAmI(port, channelCredentials(material(ca, operator), { serverKind: "framework" })),
      refused,
    );
  });

  describe("loading material from files", () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-tls-"));
    dirs.push(dir);
    const write = (name: string, pair: KeyPair, mode = 0o600) => {
      writeFileSync(join(dir, `${name}.crt`), pair.cert);
      writeFileSync(join(dir, `${name}.key`), pair.key, { mode });
      chmodSync(join(dir, `${name}.key`), mode);
    };
    writeFileSync(join(dir, "ca.crt"), ca.cert);
    write("alice", operator);

    test("a directory and a name", () => {
      const m = loadTlsMaterial({ dir, name: "alice" });
      assert.equal(m.cert.toString(), operator.cert);
    });

    test("a key readable by others is refused", () => {
      write("loose", issueCertificate(ca, { kind: "agent", name: "loose" }), 0o644);
      assert.throws(
        () => loadTlsMaterial({ dir, name: "loose" }),
        /readable by other users \(mode 644\); run: chmod 600/,
      );
    });

    test("a certificate from another CA is refused at load", () => {
      write("stranger", issueCertificate(otherCa, { kind: "agent", name: "stranger" }));
      assert.throws(() => loadTlsMaterial({ dir, name: "stranger" }), /was not issued by the CA/);
    });

    test("an expired certificate is refused at load", () => {
      const notAfter = new Date(Date.now() - 60_000);
      write("old", issueCertificate(ca, { kind: "agent", name: "old", notBefore: new Date(0), notAfter }));
      assert.throws(() => loadTlsMaterial({ dir, name: "old" }), /is not valid now/);
    });

    test("missing material says how to make it; --insecure warns and gives none", () => {
      const hint = "Create certificates with: yardctl certs init && yardctl certs issue, or pass --insecure.";
      assert.throws(
        () => resolveTlsMaterial({ dir, name: "nobody" }, () => {}, hint),
        (err: Error) => err.message.includes("nobody.crt does not exist") && err.message.endsWith(hint),
      );
      const warnings: string[] = [];
      assert.equal(
        resolveTlsMaterial({ dir, name: "nobody", insecure: true }, (m) => warnings.push(m)),
        null,
      );
      assert.deepEqual(warnings, [INSECURE_WARNING]);
    });
  });
});

describe("mTLS in a cluster whose CA an older yardctl made with RSA keys", () => {
  // The CA and the operator certificate are RSA-2048 (node-forge era); the master's
  // certificate is issued now, P-256 signed by the RSA CA: both key types meet in one handshake.
  const dir = rsaCaDirCopy();
  issueIntoDir(dir, { kind: "master", name: "master" });
  const server = new Server();
  let port = 0;

  before(async () => {
    server.addService(WHO_AM_I, {
      whoAmI: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const peer = call.getAuthContext()?.sslPeerCertificate;
        if (!peer) return cb({ code: status.UNAUTHENTICATED, details: "no certificate" });
        cb(null, Buffer.from(JSON.stringify(principalFromCertificate(peer))));
      },
    });
    const tls = loadTlsMaterial({ dir, name: "master" });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", serverCredentials(tls), (err, p) => (err ? reject(err) : resolve(p))),
    );
  });
  after(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  test("an RSA operator certificate of the old CA reaches a P-256 master certificate of the same CA", async () => {
    const creds = channelCredentials(loadTlsMaterial({ dir, name: "legacy-admin" }), {
      serverKind: "master",
    });
    assert.deepEqual(await whoAmI(port, creds), {
      name: "legacy-admin",
      kind: "operator",
      groups: ["admin"],
      via: "certificate",
    });
  });
});
