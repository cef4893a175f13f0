/** A column of a text table. */
export interface TableColumn {
  /** Header text. */
  title: string;
  /** 'right' for numbers. Default 'left'. */
  align?: 'left' | 'right';
  /** Cut longer cells to this width with a trailing '…'. */
  maxWidth?: number;
}

function truncate(text: string, maxWidth: number | undefined): string {
  if (maxWidth === undefined || text.length <= maxWidth) return text;
  return `${text.slice(0, Math.max(0, maxWidth - 1))}…`;
}

/**
 * Renders rows as an aligned plain-text table: a header, a rule, then one line per row,
 * columns separated by two spaces. No trailing spaces; no colours (safe for pipes).
 */
export function renderTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((column, index) => truncate(row[index] ?? '', column.maxWidth)));
  const widths = columns.map((column, index) => Math.max(column.title.length, ...cells.map((row) => row[index]!.length)));
  const line = (values: readonly string[]): string =>
    values
      .map((value, index) => (columns[index]!.align === 'right' ? value.padStart(widths[index]!) : value.padEnd(widths[index]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.title)), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}
