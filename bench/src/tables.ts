import type { BenchTable } from './types';

/**
 * A table as Markdown. Every row must have one cell per column: a row with another count was taken
 * from another table (rows of different tables share their first cell, the item count), and a
 * writer that would print it is wrong — so it fails loudly instead of printing a garbled table.
 */
export function renderTable(table: BenchTable): string {
  for (const row of table.rows) {
    if (row.length !== table.columns.length)
      throw new Error(
        `bench table "${table.title}": a row has ${row.length} cells for ${table.columns.length} columns: ${row.join(' | ')}`,
      );
  }
  const head = `| ${table.columns.join(' | ')} |\n| ${table.columns.map(() => '---').join(' | ')} |`;
  const body = table.rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
  const notes = (table.notes ?? []).map((n) => `\n_${n}_`).join('\n');
  return `#### ${table.title}\n\n${head}\n${body}\n${notes}\n`;
}

/**
 * The rows of this one table at `items` (its first column), as a table of their own — e.g. the
 * README's 50k search table. Selecting by table first, then by row, keeps the rows of other tables
 * that start with the same item count (targets, memory floor, publish/load) out of it.
 */
export function tableAtSize(table: BenchTable, items: number): BenchTable {
  return {
    title: `${table.title}, ${items / 1000}k items`,
    columns: table.columns,
    rows: table.rows.filter((row) => row[0] === items),
    ...(table.notes ? { notes: table.notes } : {}),
  };
}
