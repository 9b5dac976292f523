// Byte rates and sizes as operators write them: "10M" is 10 MiB per second, "512K", "1G",
// a plain number is bytes. Binary multiples, as everywhere in Yard (mem and disk are MiB).
const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Parses "10M", "10MB", "10M/s", "1.5G", "65536"; throws an Error saying what is wrong. */
export function parseByteRate(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?B)?(?:\/s)?\s*$/.exec(text);
  if (!m)
    throw new Error(`"${text}" is not a rate such as 10M (bytes per second; K, M, G are binary multiples)`);
  const value = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isFinite(value)) throw new Error(`"${text}" is too large`);
  return Math.floor(value);
}
