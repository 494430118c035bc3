import { LookalikeError } from '@lookalike/config';
import { ITEM_ID_PATTERN, METADATA_LIMITS } from '@lookalike/contracts';
import { parse } from 'csv-parse/sync';

/** Bad import input (CSV, options): printed as `error [IMPORT_INVALID]: …` without a stack. */
export class ImportInputError extends LookalikeError {
  constructor(message: string) {
    super('IMPORT_INVALID', message);
  }
}

export interface CsvCatalogueOptions {
  idColumn: string;
  /** Relative image path per row; `{id}` and `{<column>}` are replaced. */
  imageTemplate: string;
  /** Metadata columns; default every column except the id column. */
  columns?: string[];
  /**
   * Further metadata fields, each from a column or a template (`--map`): field → `column`, or a text
   * with `{id}` / `{<column>}` placeholders. What a shop widget maps as title, price and link
   * (`title-field`, `price-field`, `url-field`), e.g. `{ url: 'https://shop.example/p/{id}' }`.
   */
  fieldMap?: Record<string, string>;
}

export interface CsvRow {
  id: string;
  /** Relative to the images dir (and to the indexer's CATALOGUE_ROOT). */
  imagePath: string;
  metadata: Record<string, string>;
}

export interface CsvCatalogue {
  rows: CsvRow[];
  skipped: Array<{ line: number; reason: string }>;
  /** CSV header → metadata key, where the header had to be changed to fit the metadata key rules. */
  renamed: Record<string, string>;
}

/**
 * Metadata keys are 1-64 of [A-Za-z0-9_], not starting with `_` (internal fields); other characters
 * become `_`, leading ones are dropped.
 */
export function metadataKeyOf(header: string): string {
  const key = header
    .trim()
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/^_+/, '')
    .slice(0, 64);
  return key === '' ? 'field' : key;
}

function fillTemplate(template: string, id: string, record: Record<string, string>): string {
  return template.replace(/\{([^{}]+)\}/g, (_all, name: string) =>
    name === 'id' ? id : (record[name] ?? ''),
  );
}

/**
 * Reads a catalogue CSV in the Kaggle "Fashion Product Images" layout: a header row, an id column,
 * every other (or every selected) column becomes string metadata; empty cells are left out. Rows
 * that cannot become items (bad id, duplicate id, wrong field count) are reported, not fatal.
 */
export function readCatalogueCsv(text: string, options: CsvCatalogueOptions): CsvCatalogue {
  const records = parse(text, {
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    trim: true,
  }) as string[][];
  const [header, ...body] = records;
  if (!header) throw new ImportInputError('the CSV is empty');
  const idIndex = header.indexOf(options.idColumn);
  if (idIndex < 0) {
    throw new ImportInputError(`no column "${options.idColumn}" in the CSV header (${header.join(', ')})`);
  }
  const selected = options.columns ?? header.filter((h) => h !== options.idColumn);
  const missing = selected.filter((c) => !header.includes(c));
  if (missing.length) throw new ImportInputError(`no column(s) ${missing.join(', ')} in the CSV header`);
  const mapped = Object.entries(options.fieldMap ?? {});
  for (const [field, source] of mapped) {
    if (metadataKeyOf(field) !== field)
      throw new ImportInputError(`--map field "${field}" is not a metadata key (1-64 of A-Z a-z 0-9 _)`);
    const columns = source.includes('{')
      ? [...source.matchAll(/\{([^{}]+)\}/g)].map((m) => m[1] as string).filter((c) => c !== 'id')
      : [source];
    const unknown = columns.filter((c) => !header.includes(c));
    if (unknown.length)
      throw new ImportInputError(`--map ${field}: no column(s) ${unknown.join(', ')} in the CSV header`);
  }
  if (selected.length + mapped.length > METADATA_LIMITS.maxFields) {
    throw new ImportInputError(
      `at most ${METADATA_LIMITS.maxFields} metadata columns; choose some with --columns`,
    );
  }
  const renamed: Record<string, string> = {};
  for (const column of selected)
    if (metadataKeyOf(column) !== column) renamed[column] = metadataKeyOf(column);

  const rows: CsvRow[] = [];
  const skipped: CsvCatalogue['skipped'] = [];
  const seen = new Set<string>();
  body.forEach((fields, index) => {
    const line = index + 2;
    if (fields.length !== header.length) {
      skipped.push({ line, reason: `${fields.length} fields, the header has ${header.length}` });
      return;
    }
    const record: Record<string, string> = {};
    header.forEach((name, i) => (record[name] = fields[i] ?? ''));
    const id = record[options.idColumn] ?? '';
    if (!ITEM_ID_PATTERN.test(id)) {
      skipped.push({
        line,
        reason: `id "${id.slice(0, 40)}" is not 1-128 characters of A-Z a-z 0-9 _ . : -`,
      });
      return;
    }
    if (seen.has(id)) {
      skipped.push({ line, reason: `duplicate id ${id}` });
      return;
    }
    seen.add(id);
    const metadata: Record<string, string> = {};
    for (const column of selected) {
      const value = record[column] ?? '';
      if (value !== '') metadata[metadataKeyOf(column)] = value.slice(0, METADATA_LIMITS.maxStringLength);
    }
    for (const [field, source] of mapped) {
      const value = source.includes('{') ? fillTemplate(source, id, record) : (record[source] ?? '');
      if (value !== '') metadata[field] = value.slice(0, METADATA_LIMITS.maxStringLength);
    }
    rows.push({ id, imagePath: fillTemplate(options.imageTemplate, id, record), metadata });
  });
  return { rows, skipped, renamed };
}
