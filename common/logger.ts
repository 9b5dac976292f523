// Structured logs on pino: one root logger per process, one child per component with
// `component` bound. Records go to stderr, as JSON lines when stderr is not a terminal and as
// pretty lines on one (YARD_LOG_FORMAT=json|pretty overrides; YARD_LOG_LEVEL sets the level).
// Writes are synchronous, so the last records before a crash or process.exit() are on stderr
// when the process ends. Secrets are redacted (log-redaction.ts). docs/logging.md.
import { createRequire } from "node:module";
import type { PrettyOptions } from "pino-pretty";
import pino, { type DestinationStream, type Logger as PinoLogger } from "pino";
import { chooseLogFormat, chooseLogLevel, type LogFormat, type LogLevel } from "./log-format.js";
import { REDACT_PATHS, REDACTED, redactSecrets, scrubSecretText } from "./log-redaction.js";

export type { LogLevel } from "./log-format.js";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface RootLoggerInit {
  level?: LogLevel;
  format?: LogFormat;
  /** Where records go; default: stderr, written synchronously. */
  destination?: DestinationStream;
  /** Colours in pretty output; default: whether stderr is a terminal. */
  colorize?: boolean;
}

/** The error serializer: type, message, stack and own fields, with inline credentials scrubbed. */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out === "string") return scrubSecretText(out);
  if (out === null || typeof out !== "object") return out;
  // A plain copy: the serializer's object has its own prototype, which the walker leaves alone.
  // A gRPC error's metadata is dropped: it holds the call's headers (authorization among
  // them) and serializes as an empty map anyway; code and details stay.
  const { metadata: _metadata, ...fields } = out as Record<string, unknown>;
  return redactSecrets(fields);
}

/**
 * A root logger writing to `init.destination` (stderr by default). Exported for tests that
 * read the records a process would write; daemons get theirs through createLogger.
 */
export function createRootLogger(init: RootLoggerInit = {}): PinoLogger {
  const isTty = process.stderr.isTTY === true;
  const format = init.format ?? chooseLogFormat(process.env.YARD_LOG_FORMAT, isTty);
  const level = init.level ?? chooseLogLevel(process.env.YARD_LOG_LEVEL);
  const destination =
    format === "pretty"
      ? prettyStream(init.colorize ?? (init.destination ? false : isTty), init.destination)
      : (init.destination ?? pino.destination({ fd: 2, sync: true }));
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        // Level names, not pino's numbers: a reader of the raw line should not need a table.
        level: (label) => ({ level: label }),
        log: (fields) => redactSecrets(fields),
      },
      serializers: { err: serializeError },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    destination,
  );
}

/**
 * pino-pretty in this process (not pino's worker transport), writing synchronously: a worker
 * would lose the records still in flight when the process exits. Loaded only when chosen.
 */
function prettyStream(colorize: boolean, destination?: DestinationStream): DestinationStream {
  const require = createRequire(import.meta.url);
  const pretty = require("pino-pretty") as (options: PrettyOptions) => DestinationStream;
  return pretty({
    destination: destination ?? 2,
    sync: true,
    colorize,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,component",
    messageFormat: (record: Record<string, unknown>, messageKey: string) =>
      record.component
        ? `[${String(record.component)}] ${String(record[messageKey])}`
        : String(record[messageKey]),
  });
}

let root: PinoLogger | undefined;

/** The process's root logger, made at the first record so that the environment is read then. */
function rootLogger(): PinoLogger {
  root ??= createRootLogger();
  return root;
}

/**
 * A caller that passed an Error under `error` (the old habit) gets it serialized with its
 * stack under `err`, the name pino's serializer and every reader of these logs expect.
 */
function normalise(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!fields) return {};
  if (fields.error instanceof Error && fields.err === undefined) {
    const { error, ...rest } = fields;
    return { ...rest, err: error };
  }
  return fields;
}

/** The component's logger, a child of `parent` (the process's root logger by default). */
export function createLogger(component: string, parent?: PinoLogger): Logger {
  let child: PinoLogger | undefined;
  // Made on first use: modules create their loggers at import, before a test or a daemon has
  // set the environment that decides level and format.
  const log = () => {
    child ??= (parent ?? rootLogger()).child({ component });
    return child;
  };
  return {
    debug: (msg, fields) => log().debug(normalise(fields), scrubSecretText(msg)),
    info: (msg, fields) => log().info(normalise(fields), scrubSecretText(msg)),
    warn: (msg, fields) => log().warn(normalise(fields), scrubSecretText(msg)),
    error: (msg, fields) => log().error(normalise(fields), scrubSecretText(msg)),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
