// The settings a foreground daemon starts with, as the fields of its first log record: an
// operator reading the log of a misbehaving daemon first wants to know what it was told.
// Secret settings (the token) are passed as they are: the logger redacts them by name
// (docs/logging.md), so the record shows that one is set without showing it.

/** `opts` without what a log cannot show: TLS material becomes its kind, buffers and functions go. */
export function settingsFields(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(opts)) {
    if (value === undefined || typeof value === "function") continue;
    if (key === "tls") out.transport = value ? "mTLS" : "insecure";
    else if (key === "logger") continue;
    else if (Buffer.isBuffer(value)) continue;
    else out[key] = value;
  }
  return out;
}
