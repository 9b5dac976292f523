// Values that shell completion offers for a command's first argument or an option's value.
// Kept beside the commands rather than in commander's `.choices()`, which would replace the
// commands' own usage errors (which name the flag and the value) with commander's.
import type { Command, Option } from "commander";

const argumentValues = new WeakMap<Command, readonly string[]>();
const optionValues = new WeakMap<Option, readonly string[]>();

/** The values `cmd`'s first argument takes (e.g. the kinds of `get`). */
export function hintArgumentValues(cmd: Command, values: readonly string[]): void {
  argumentValues.set(cmd, values);
}

/** The values the option named `flag` (e.g. "--output") of `cmd` takes. */
export function hintOptionValues(cmd: Command, flag: string, values: readonly string[]): void {
  const option = cmd.options.find((o) => o.long === flag);
  if (!option) throw new Error(`${cmd.name()} has no option ${flag}`);
  optionValues.set(option, values);
}

export function argumentValuesOf(cmd: Command): readonly string[] {
  return argumentValues.get(cmd) ?? [];
}

export function optionValuesOf(option: Option): readonly string[] {
  return optionValues.get(option) ?? [];
}
