// Reading gRPC server streams with an owned lifetime: the caller decides when to stop,
// and a stop by the caller (CANCELLED) is not an error.
import { type ClientReadableStream, status as GrpcStatus } from "@grpc/grpc-js";
import { isServiceError } from "../common/errors.js";

/**
 * Calls `onData` for each message until the stream ends, `onData` returns true (the
 * stream is then cancelled), or `signal` aborts. Rejects with the stream's error, except
 * CANCELLED after a stop asked for here.
 */
export function consume<T>(
  stream: ClientReadableStream<T>,
  onData: (msg: T) => boolean | undefined,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      stream.cancel();
      resolve();
    };
    const onAbort = () => stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) stop();
    stream.on("data", (msg: T) => {
      if (stopped) return;
      try {
        if (onData(msg) === true) stop();
      } catch (err) {
        stopped = true;
        stream.cancel();
        reject(err);
      }
    });
    stream.on("end", () => {
      signal?.removeEventListener("abort", onAbort);
      stopped = true;
      resolve();
    });
    stream.on("error", (err: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      if (stopped && isServiceError(err) && err.code === GrpcStatus.CANCELLED) return;
      if (stopped) return;
      stopped = true;
      reject(err);
    });
  });
}
