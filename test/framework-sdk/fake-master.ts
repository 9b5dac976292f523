// A real gRPC server that plays the master's side of SchedulerService (and ReviewAccess) for
// tests of the SDK and of frameworks: it subscribes frameworks, records every call, and lets
// the test push events, refuse calls, and break or silence streams. Not a master: no allocation.
import { randomUUID } from "node:crypto";
import {
  Metadata,
  Server,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { bindServer, SERVER_OPTIONS } from "../../common/grpc.js";
import type { TaskInfo, TaskStatus } from "../../proto/gen/yard/v1/common.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import {
  type OperatorServiceServer,
  OperatorServiceService,
  type ReviewAccessRequest,
  type ReviewAccessResponse,
} from "../../proto/gen/yard/v1/operator.js";
import {
  type Event,
  Event_Type,
  type SchedulerServiceServer,
  SchedulerServiceService,
  type SubscribeRequest,
} from "../../proto/gen/yard/v1/scheduler.js";
import { masterServerCredentials } from "../tls-fixture.js";

export interface RecordedCall {
  method: string;
  request: any;
  authorization: string | undefined;
}

export interface FakeMasterOptions {
  heartbeatIntervalSeconds?: number;
  /** Send HEARTBEAT events (default true); false simulates a silent, half-dead stream. */
  heartbeats?: boolean;
  token?: string;
}

type Refusal = { code: status; details: string };

export class FakeMaster {
  readonly server = new Server(SERVER_OPTIONS);
  port = 0;
  readonly calls: RecordedCall[] = [];
  readonly subscriptions: SubscribeRequest[] = [];
  /** Framework ids the master knows; a re-subscription with another id gets NOT_FOUND. */
  readonly known = new Set<string>();
  streams: ServerWritableStream<SubscribeRequest, Event>[] = [];
  heartbeats: boolean;
  heartbeatsSent = 0;
  /** Next call of this method fails with this status. */
  readonly refuse = new Map<string, Refusal>();
  /** Called for each launched task; by default nothing happens to launched tasks. */
  onLaunch: ((task: TaskInfo, frameworkId: string) => void) | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: FakeMasterOptions = {}) {
    this.heartbeats = opts.heartbeats ?? true;
    const record = (method: string) => (call: ServerUnaryCall<any, any>, cb: sendUnaryData<any>) => {
      const auth = call.metadata.get("authorization")[0];
      const authorization = auth ? String(auth) : undefined;
      // A batched Acknowledge is recorded as one call per acknowledgement, as if sent alone.
      const acks: { taskId: string; uuid: string }[] =
        method === "Acknowledge" ? (call.request.acks ?? []) : [];
      if (acks.length > 0 && !call.request.taskId) {
        for (const a of acks) {
          const request = { frameworkId: call.request.frameworkId, taskId: a.taskId, uuid: a.uuid, acks: [] };
          this.calls.push({ method, request, authorization });
        }
      } else {
        this.calls.push({ method, request: call.request, authorization });
      }
      const refusal = this.refuse.get(method);
      if (refusal) {
        this.refuse.delete(method);
        cb({ code: refusal.code, details: refusal.details, metadata: new Metadata() });
        return;
      }
      if (method === "Accept") {
        const ids: string[] = [];
        for (const op of call.request.operations ?? []) {
          for (const t of op.launch?.tasks ?? []) {
            ids.push(t.taskId);
            this.onLaunch?.(t, call.request.frameworkId);
          }
        }
        cb(null, { taskIds: ids });
        return;
      }
      if (method === "Teardown") {
        cb(null, {});
        for (const s of this.streams) s.end();
        return;
      }
      cb(null, {});
    };
    const impl: SchedulerServiceServer = {
      subscribe: (call) => this.subscribe(call),
      accept: record("Accept"),
      decline: record("Decline"),
      kill: record("Kill"),
      reconcile: record("Reconcile"),
      acknowledge: record("Acknowledge"),
      suppress: record("Suppress"),
      revive: record("Revive"),
      teardown: record("Teardown"),
      reportPending: record("ReportPending"),
      publishEvents: record("PublishEvents"),
    };
    this.server.addService(SchedulerServiceService, impl);
    // OperatorService.ReviewAccess as the real master answers it with only a cluster token
    // (docs/security.md): the token's holder is an admin, any other token proves no one.
    const review = (
      call: ServerUnaryCall<ReviewAccessRequest, ReviewAccessResponse>,
      cb: sendUnaryData<ReviewAccessResponse>,
    ) => {
      const expected = this.opts.token;
      const ok = !expected || call.request.token === expected;
      cb(null, {
        allowed: ok,
        reason: ok ? "" : "missing or wrong token (pass --token or set YARD_TOKEN)",
        principal: ok ? (expected ? "cluster-token" : "anonymous") : "",
        kind: ok ? "operator" : "",
        unauthenticated: !ok,
      });
    };
    this.server.addService(OperatorServiceService, {
      reviewAccess: review,
    } as unknown as OperatorServiceServer);
  }

  async start(port = 0): Promise<this> {
    this.port = await bindServer(this.server, "127.0.0.1", port, masterServerCredentials());
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private subscribe(call: ServerWritableStream<SubscribeRequest, Event>): void {
    const req = call.request;
    this.subscriptions.push(req);
    const auth = call.metadata.get("authorization")[0];
    if (this.opts.token && auth !== `Bearer ${this.opts.token}`) {
      call.emit("error", {
        code: status.UNAUTHENTICATED,
        details: "missing or wrong token",
        metadata: new Metadata(),
      });
      return;
    }
    let id = req.frameworkInfo?.id ?? "";
    if (id && !this.known.has(id)) {
      call.emit("error", {
        code: status.NOT_FOUND,
        details: `unknown framework ${id}`,
        metadata: new Metadata(),
      });
      return;
    }
    if (!id) id = `fw-${randomUUID()}`;
    this.known.add(id);
    this.streams.push(call);
    const hb = this.opts.heartbeatIntervalSeconds ?? 5;
    call.write({
      type: Event_Type.SUBSCRIBED,
      subscribed: { frameworkId: id, heartbeatIntervalSeconds: hb, session: "", frameworkSecret: "" },
    });
    const timer = setInterval(() => {
      if (this.heartbeats && !call.cancelled && !call.destroyed) {
        call.write({ type: Event_Type.HEARTBEAT });
        this.heartbeatsSent++;
      }
    }, hb * 1000);
    this.timers.push(timer);
    const drop = () => {
      clearInterval(timer);
      this.streams = this.streams.filter((s) => s !== call);
    };
    call.on("cancelled", drop);
    call.on("close", drop);
    call.on("error", drop);
  }

  /** Sends an event on every open stream. */
  send(ev: Event): void {
    for (const s of this.streams) s.write(ev);
  }

  sendUpdate(status: Partial<TaskStatus> & { taskId: string; state: TaskState }): void {
    this.send({
      type: Event_Type.UPDATE,
      update: {
        status: {
          agentId: "agent-1",
          frameworkId: "",
          message: "",
          reason: "",
          uuid: randomUUID(),
          timestamp: Date.now() / 1000,
          source: "agent",
          ...status,
        },
        statuses: [],
      },
    });
  }

  /** Breaks every open stream with the given status (as a master restart would). */
  breakStreams(code: status = status.UNAVAILABLE, details = "master going away"): void {
    for (const s of this.streams) s.emit("error", { code, details, metadata: new Metadata() });
    this.streams = [];
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves when `pred` holds, polling every 10 ms; rejects after `ms`. */
  static async until(pred: () => boolean, ms = 5_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.breakStreams(status.UNAVAILABLE, "master stopping");
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
  }
}

export { TaskState };
