// The gRPC shell of ReleaseService: pushes (client streams), lists, removal, status, torrent
// export and staging. The work is done by the ReleaseManager (master/releases/).
import { sessionOf } from "../../common/auth.js";
import type { sendUnaryData, ServerReadableStream, ServerWritableStream } from "@grpc/grpc-js";
import { checkToken } from "../../common/auth.js";
import { toGrpcError } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import type {
  PushChunk,
  PushResponse,
  ReleaseServiceServer,
  StageRequest,
  StageStatus,
} from "../../proto/gen/yard/v1/release.js";
import type { ReleaseManager } from "../releases/release-manager.js";
import { type OpenStreams, StreamWriter } from "../../common/stream-writer.js";
import { receiveUpload } from "../releases/upload.js";
import { failStream, unaryHandler } from "./call-guard.js";

const log = createLogger("master.releases");

/** Throws unless `session` is the current subscription secret of the framework (when subscribed). */
export type SessionCheck = (frameworkId: string, session: string) => void;

export function releaseService(
  releases: ReleaseManager,
  token: string | undefined,
  checkSession: SessionCheck,
  openStreams?: OpenStreams,
): ReleaseServiceServer {
  return {
    push(call: ServerReadableStream<PushChunk, PushResponse>, callback: sendUnaryData<PushResponse>) {
      const run = async () => {
        checkToken(token, call.metadata);
        const upload = await receiveUpload(call, releases.uploadDir);
        return releases.push(upload);
      };
      run().then(
        (res) => callback(null, res),
        (err) => {
          log.warn("push refused", { error: err instanceof Error ? err.message : String(err) });
          callback(toGrpcError(err) as any, null);
        },
      );
    },
    list: unaryHandler(token, () => ({ releases: releases.list() })),
    remove(call, callback) {
      const run = async () => {
        checkToken(token, call.metadata);
        await releases.remove(call.request.release);
        return {};
      };
      run().then(
        (res) => callback(null, res),
        (err) => callback(toGrpcError(err) as any, null),
      );
    },
    status: unaryHandler(token, (req) => releases.status(req.release)),
    setPins: unaryHandler(token, (req, call) => {
      checkSession(req.frameworkId, sessionOf(call.metadata));
      releases.setPins(req);
      return {};
    }),
    getTorrent: unaryHandler(token, (req) => releases.torrent(req.release)),
    stage: unaryHandler(token, (req) => releases.stage(req)),
    watchStage(call: ServerWritableStream<StageRequest, StageStatus>) {
      let stop: (() => void) | undefined;
      // Each status is a snapshot: a client that is behind gets the newest one when it drains.
      const out = new StreamWriter<StageStatus>(call, { mode: "latest", openStreams });
      try {
        checkToken(token, call.metadata);
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
