// kubectl's human-readable output, read back as columns and rows.

/**
 * Parses kubectl's tabular output (one table). Columns are found from the header: names are
 * separated by 2+ spaces (so "DISPLAY NAME" stays one column) and each cell is the text between
 * two column starts.
 */
export function parseTable(text: string): { columns: string[]; rows: Array<Record<string, string>> } {
  const lines = text.split('\n').filter(l => l.trim() !== '');
  if (lines.length === 0) return { columns: [], rows: [] };
  const header = lines[0];
  const columns: string[] = [];
  const starts: number[] = [];
  const re = /\S+(?: \S+)*/g;
  for (const m of header.matchAll(re)) {
    columns.push(m[0]);
    starts.push(m.index);
  }
  const rows = lines.slice(1).map(line => {
    const row: Record<string, string> = {};
    columns.forEach((c, i) => {
      row[c] = line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim();
    });
    return row;
  });
  return { columns, rows };
}

/** Splits kubectl output that holds several tables (e.g. `get clusters,projects`) at blank lines. */
export function parseTables(text: string): Array<ReturnType<typeof parseTable>> {
  return text
    .split(/\n\s*\n/)
    .filter(t => t.trim())
    .map(parseTable);
}
