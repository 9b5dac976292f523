// Plain-text tables with aligned columns, the way kubectl prints lists. Pure.

/**
 * Renders `rows` under `headers`, each column as wide as its widest cell, columns
 * separated by three spaces, no trailing blanks. Cells with line breaks are flattened so
 * that one row stays one line.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string | undefined) => (cell ?? "").replace(/\s*[\r\n]+\s*/g, " ");
  const all = [headers.map(clean), ...rows.map((r) => headers.map((_, i) => clean(r[i])))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const lines = all.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
      .join("   ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}
