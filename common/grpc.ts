// gRPC plumbing shared by daemons and clients: channel options, server start, calls as promises.
import { type ChannelOptions, credentials, type Server, type ServerCredentials } from "@grpc/grpc-js";
import { LIMITS } from "./limits.js";

/**
 * Keepalives so that a dead peer is noticed in seconds, not at the TCP timeout: a ping every
 * 3 s, 5 s for its answer. A frozen or cut-off master (its host lost) resets nothing: its
 * agents and clients learn of it from these pings only, so they move to a new leader within
 * 8 s of the loss (docs/ha.md).
 */
export const CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.keepalive_time_ms": 3_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 2_000,
};

/**
 * Options of a server that takes messages of at most `maxReceiveBytes`: a larger one is
 * refused with RESOURCE_EXHAUSTED before it is decoded, so no peer can make a daemon hold it.
 */
export function serverOptions(maxReceiveBytes: number): ChannelOptions {
  return {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.max_receive_message_length": maxReceiveBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  };
}

/** The master's server options (common/limits.ts, masterReceiveBytes). */
export const SERVER_OPTIONS: ChannelOptions = serverOptions(LIMITS.masterReceiveBytes);

/** Plaintext channel credentials: only for peers started with --insecure (common/tls.ts). */
export function insecureChannel() {
  return credentials.createInsecure();
}

/**
 * Binds `server` to host:port (port 0 = a free one) with `creds` (common/tls.ts
 * serverCredentials) and resolves the port it got.
 */
export function bindServer(
  server: Server,
  host: string,
  port: number,
  creds: ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, creds, (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
}

/** Turns a callback-style unary client method into a promise. */
export function unary<Req, Res>(
  fn: (
    req: Req,
    metadata: import("@grpc/grpc-js").Metadata,
    options: object,
    cb: (err: any, res: Res) => void,
  ) => unknown,
  self: unknown,
  req: Req,
  metadata: import("@grpc/grpc-js").Metadata,
  deadlineMs = 30_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(self, req, metadata, { deadline: Date.now() + deadlineMs }, (err: unknown, res: Res) => {
      if (err) reject(err);
      else resolve(res);
    });
  });
}
