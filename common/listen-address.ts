// "HOST:PORT" of a listener that an operator names (--metrics-listen 127.0.0.1:9100), checked
// before anything binds, so that a typo fails the start with the field and the value instead
// of a bind error from deep inside Node. Pure.
import { InvalidArgumentError } from "./errors.js";

export interface ListenAddress {
  host: string;
  /** 0: the system picks a free port (tests). */
  port: number;
}

/** Parses "HOST:PORT" or "[V6]:PORT"; throws InvalidArgumentError naming `field` and the value. */
export function parseListenAddress(field: string, value: string): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not HOST:PORT (e.g. 127.0.0.1:9100)`);
  }
  const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}
