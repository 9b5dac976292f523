// The -o/--output flag: which formats a command offers, the check of the operator's value,
// and the printing of a message in the machine-readable ones. JSON is the protobuf JSON of
// the response (what the wire carries, camelCase keys); YAML is the same tree as YAML, so a
// script can switch formats without renaming a key.
import type { Command } from "commander";
import { stringify as toYaml } from "yaml";
import { hintOptionValues } from "./completion-hints.js";
import { UsageError } from "./errors.js";
import { print } from "./options.js";

export type OutputFormat = "table" | "wide" | "json" | "yaml" | "text";

/** What list commands offer: the table, the table with more columns, and the two data formats. */
export const LIST_FORMATS: readonly OutputFormat[] = ["table", "wide", "json", "yaml"];

/** "a, b, c or d" */
function choices(list: readonly string[]): string {
  return list.length < 2 ? list.join("") : `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
}

/** The help text of an -o flag offering `formats`. */
export function outputHelp(formats: readonly OutputFormat[]): string {
  return choices(formats);
}

/**
 * The operator's -o value, checked against what the command offers; anything else is a
 * usage error naming the flag and the value (exit 2).
 */
export function parseOutput(raw: unknown, formats: readonly OutputFormat[]): OutputFormat {
  const value = String(raw ?? formats[0]);
  if (!(formats as readonly string[]).includes(value)) {
    throw new UsageError(`--output "${value}": must be ${choices(formats)}`);
  }
  return value as OutputFormat;
}

/** True for the formats that print data rather than a view. */
export function isDataFormat(format: OutputFormat): format is "json" | "yaml" {
  return format === "json" || format === "yaml";
}

/** Prints a message's protobuf JSON (`toJSON` of its ts-proto type) as JSON or YAML. */
export function printData(format: "json" | "yaml", json: unknown): void {
  if (format === "json") print(JSON.stringify(json, null, 2));
  else print(toYaml(json ?? {}, { lineWidth: 0 }));
}

/** Adds -o/--output offering `formats` (the first is the default), with its values for completion. */
export function addOutputOption(cmd: Command, formats: readonly OutputFormat[]): Command {
  cmd.option("-o, --output <format>", outputHelp(formats), formats[0]);
  hintOptionValues(cmd, "--output", formats);
  return cmd;
}
