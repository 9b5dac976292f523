// Reading the records a daemon wrote on stderr (JSON lines, docs/logging.md), so that tests
// match on a record's fields and message rather than on how a line happens to be laid out.

export interface LogRecord {
  level: string;
  time: string;
  component?: string;
  msg: string;
  err?: { type?: string; message?: string; stack?: string; [k: string]: unknown };
  [field: string]: unknown;
}

/** The record on `line`, or undefined when the line is not one (a yardctl message, a partial line). */
export function parseLogRecord(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    if (v && typeof v === "object" && typeof (v as LogRecord).msg === "string") return v as LogRecord;
  } catch {
    // Not JSON: some other output on the same stream.
  }
  return undefined;
}

/** Every record in `text`: a stream's chunks joined with "", or its lines joined with "\n". */
export function logRecords(text: string): LogRecord[] {
  return text
    .split("\n")
    .map(parseLogRecord)
    .filter((r): r is LogRecord => r !== undefined);
}
