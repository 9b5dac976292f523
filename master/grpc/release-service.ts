// The gRPC shell of ReleaseService: pushes (client streams), lists, removal, status, torrent
// export and staging. The work is done by the ReleaseManager (master/releases/).
import { sessionOf } from "../../common/auth.js";
import type { sendUnaryData, ServerReadableStream, ServerWritableStream } from "@grpc/grpc-js";
import { toGrpcError } from "../../common/errors.js";
import type { Principal } from "../../common/principal.js";
import { createLogger } from "../../common/logger.js";
import type {
  PushChunk,
  PushResponse,
  ReleaseServiceServer,
  StageRequest,
  StageStatus,
} from "../../proto/gen/yard/v1/release.js";
import type { AccessControl } from "../auth/access.js";
import { describePrincipal } from "../auth/policy.js";
import type { ReleaseManager } from "../releases/release-manager.js";
import { type OpenStreams, StreamWriter } from "../../common/stream-writer.js";
import { receiveUpload } from "../releases/upload.js";
import { failStream, unaryHandler } from "./call-guard.js";

const log = createLogger("master.releases");

/**
 * Throws unless `principal` registered the framework and `session` is its current
 * subscription secret (when subscribed).
 */
export type SessionCheck = (frameworkId: string, session: string, principal: string) => void;

export function releaseService(
  releases: ReleaseManager,
  access: AccessControl,
  checkSession: SessionCheck,
  openStreams?: OpenStreams,
): ReleaseServiceServer {
  // Replies that tell of a change to the registry wait until it is durable.
  const gate = (send: () => void) => releases.afterCommit(send);
  return {
    push(call: ServerReadableStream<PushChunk, PushResponse>, callback: sendUnaryData<PushResponse>) {
      let principal: Principal | undefined;
      let object = "";
      const run = async () => {
        // The release's name is in the first chunk: the principal is checked before any byte
        // is stored, and the audit entry names the release.
        principal = access.check(call, "push_release");
        const upload = await receiveUpload(call, releases.uploadDir);
        object = `${upload.header.name}@${upload.header.version}`;
        return releases.push(upload);
      };
      run().then(
        (res) => {
          if (principal) access.done(principal, "push_release", object);
          callback(null, res);
        },
        (err) => {
          if (principal) access.done(principal, "push_release", object, err);
          log.warn("push refused", { err });
          callback(toGrpcError(err) as any, null);
        },
      );
    },
    list: unaryHandler(access, "view", () => releases.listWithCopies()),
    remove(call, callback) {
      let principal: Principal | undefined;
      const object = call.request.release;
      const run = async () => {
        principal = access.check(call, "remove_release", object);
        await releases.remove(object);
        return {};
      };
      run().then(
        (res) => {
          if (principal) access.done(principal, "remove_release", object);
          callback(null, res);
        },
        (err) => {
          if (principal) access.done(principal, "remove_release", object, err);
          callback(toGrpcError(err) as any, null);
        },
      );
    },
    status: unaryHandler(access, "view", (req) => releases.status(req.release)),
    setPins: unaryHandler(
      access,
      "stage_release",
      (req, call, principal) => {
        checkSession(req.frameworkId, sessionOf(call.metadata), describePrincipal(principal));
        releases.setPins(req);
        return {};
      },
      gate,
    ),
    getTorrent: unaryHandler(
      access,
      (req) => ["export_release", req.release],
      (req) => releases.torrent(req.release),
    ),
    // Lets an outside host fetch a release: its own action, so that a policy can allow
    // exporting torrents without letting anyone in.
    grantTorrent(call, callback) {
      let principal: Principal | undefined;
      const object = call.request.release;
      const run = async () => {
        principal = access.check(call, "grant_release", object);
        return releases.grantTorrent(object, call.request.host, call.request.ttlSeconds);
      };
      run().then(
        (res) => {
          if (principal) access.done(principal, "grant_release", object);
          callback(null, res);
        },
        (err) => {
          if (principal) access.done(principal, "grant_release", object, err);
          callback(toGrpcError(err) as any, null);
        },
      );
    },
    stage: unaryHandler(access, "stage_release", (req) => releases.stage(req), gate),
    watchStage(call: ServerWritableStream<StageRequest, StageStatus>) {
      let stop: (() => void) | undefined;
      // Each status is a snapshot: a client that is behind gets the newest one when it drains.
      const out = new StreamWriter<StageStatus>(call, { mode: "latest", openStreams });
      try {
        access.check(call, "stage_release");
        stop = releases.watchStage(
          call.request,
          (s) => out.write(s),
          (err) => {
            if (err) out.fail(toGrpcError(err));
            else out.end();
          },
        );
      } catch (err) {
        failStream(call, err);
        return;
      }
      const cancel = () => stop?.();
      call.on("cancelled", cancel);
      call.on("close", cancel);
      call.on("error", cancel);
    },
  };
}
