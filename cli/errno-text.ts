// System errors (Node's errno codes) as the operator reads them: a sentence and what it was
// about ("no such file: /etc/yard.yaml"), never the bare code. Pure.

const SENTENCES: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  EEXIST: "it already exists",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the name is too long",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
  EMFILE: "too many open files",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "the address is not one of this host's",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the peer",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "no such host",
};

/** What Node's system errors carry besides the message. */
interface SystemErrorLike {
  code?: unknown;
  path?: unknown;
  address?: unknown;
  port?: unknown;
  message?: unknown;
}

/** The code of a Node system error ("ENOENT"), or undefined for any other value. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as SystemErrorLike | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * The sentence for a system error's code, without the path: "no such file or directory".
 * Codes without a sentence fall back to the message Node gives, less its "CODE: " prefix.
 */
export function errnoSentence(err: unknown): string {
  const code = errnoCode(err);
  if (code && SENTENCES[code]) return SENTENCES[code];
  const message = String((err as SystemErrorLike | null)?.message ?? err);
  return message.replace(/^[A-Z0-9]+: /, "").replace(/, \w+ '.*'$/, "");
}

/** The sentence and what it was about: "permission denied: /var/lib/yard/token", "address already in use: 127.0.0.1:7070". */
export function describeSystemError(err: unknown): string {
  const e = (err ?? {}) as SystemErrorLike;
  const about =
    typeof e.path === "string"
      ? e.path
      : typeof e.address === "string"
        ? typeof e.port === "number"
          ? `${e.address}:${e.port}`
          : e.address
        : "";
  return about ? `${errnoSentence(err)}: ${about}` : errnoSentence(err);
}
