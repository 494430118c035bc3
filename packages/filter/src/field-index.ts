import type { Filter, Metadata } from '@lookalike/contracts';
import { conditionValues } from './match';

/** Values listed per field by `topValues` and `facets` (the most frequent first). */
export const FIELD_VALUES_CAP = 100;

/** A metadata field with its value counts (the API's /v1/index/fields, the demo page's chips). */
export interface FieldFacet {
  name: string;
  /** Items that have the field. */
  items: number;
  /** Distinct values of the field. */
  distinct: number;
  /** At most FIELD_VALUES_CAP values, most frequent first (ties: by value). */
  values: Array<{ value: string; count: number }>;
}

/** One page of a listing in index order: positions of the items on it, and how many match in all. */
export interface PositionPage {
  total: number;
  positions: number[];
}

/** Cooperative yielding for large builds (a serving process keeps answering meanwhile). */
export type MaybeYield = () => Promise<void>;

type Building = Map<string, Map<string, number[]>>;

function add(building: Building, metadata: Metadata, position: number): void {
  for (const field of Object.keys(metadata)) {
    const value = String(metadata[field]);
    let values = building.get(field);
    if (!values) building.set(field, (values = new Map()));
    const list = values.get(value);
    if (list) list.push(position);
    else values.set(value, [position]);
  }
}

const byCountThenValue = (a: [string, number], b: [string, number]) =>
  b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * The equality index of a set of items (field → value → ascending positions), built once per
 * snapshot: it answers which positions match a filter without a scan, counts facets, and pages
 * through filtered listings. Fields keep the order in which they first occur (in index order).
 */
export class FieldIndex {
  private facetsCache: FieldFacet[] | null = null;
  private topValuesCache: Record<string, string[]> | null = null;

  private constructor(
    private readonly fields: Map<string, Map<string, Int32Array>>,
    private readonly metadataAt: (position: number) => Metadata,
    /** How many items the index covers (positions are 0 … count − 1). */
    readonly count: number,
  ) {}

  static build(metadataAt: (position: number) => Metadata, count: number): FieldIndex {
    const building: Building = new Map();
    for (let position = 0; position < count; position++) add(building, metadataAt(position), position);
    return FieldIndex.freeze(building, metadataAt, count);
  }

  /** As `build`, calling `maybeYield` every 1024 items. */
  static async buildSliced(
    metadataAt: (position: number) => Metadata,
    count: number,
    maybeYield: MaybeYield,
  ): Promise<FieldIndex> {
    const building: Building = new Map();
    for (let position = 0; position < count; position++) {
      add(building, metadataAt(position), position);
      if ((position & 1023) === 1023) await maybeYield();
    }
    return FieldIndex.freeze(building, metadataAt, count);
  }

  private static freeze(
    building: Building,
    metadataAt: (position: number) => Metadata,
    count: number,
  ): FieldIndex {
    const fields = new Map<string, Map<string, Int32Array>>();
    for (const [field, values] of building) {
      const frozen = new Map<string, Int32Array>();
      for (const [value, list] of values) frozen.set(value, Int32Array.from(list));
      fields.set(field, frozen);
    }
    return new FieldIndex(fields, metadataAt, count);
  }

  /** Whether any item has the field. */
  has(field: string): boolean {
    return this.fields.has(field);
  }

  fieldNames(): string[] {
    return [...this.fields.keys()];
  }

  /** Fields of `filter` no item has (almost always a typo that would match nothing). */
  unknownFields(filter: Filter): string[] {
    return Object.keys(filter).filter((field) => !this.fields.has(field));
  }

  /** Positions (ascending) of the items matching every field of the filter. */
  matching(filter: Filter): Int32Array {
    const conditions = Object.entries(filter).map(([field, condition]) => {
      const values = conditionValues(condition);
      const index = this.fields.get(field);
      const lists = [...new Set(values)]
        .map((value) => index?.get(value))
        .filter((list): list is Int32Array => list !== undefined);
      const size = lists.reduce((sum, list) => sum + list.length, 0);
      return { field, values: new Set(values), lists, size };
    });
    conditions.sort((a, b) => a.size - b.size);
    const [smallest, ...others] = conditions;
    if (!smallest || smallest.size === 0) return new Int32Array(0);
    // An item has one value per field, so the value lists of one field are disjoint.
    let positions: Int32Array;
    if (smallest.lists.length === 1) positions = smallest.lists[0] as Int32Array;
    else {
      positions = new Int32Array(smallest.size);
      let offset = 0;
      for (const list of smallest.lists) {
        positions.set(list, offset);
        offset += list.length;
      }
      positions.sort();
    }
    if (others.length === 0) return positions;
    // The other fields are checked on the few candidates left, not by walking their (long) lists.
    return positions.filter((position) => {
      const metadata = this.metadataAt(position);
      return others.every(
        (condition) =>
          Object.hasOwn(metadata, condition.field) && condition.values.has(String(metadata[condition.field])),
      );
    });
  }

  /** One page (in index order) of the items matching `filter`, or of all items without one. */
  page(filter: Filter | undefined, offset: number, limit: number): PositionPage {
    if (!filter) {
      const end = Math.min(this.count, offset + limit);
      const positions: number[] = [];
      for (let p = offset; p < end; p++) positions.push(p);
      return { total: this.count, positions };
    }
    const matching = this.matching(filter);
    return { total: matching.length, positions: Array.from(matching.subarray(offset, offset + limit)) };
  }

  /** Every field → its most frequent values (at most FIELD_VALUES_CAP), for filter chips. */
  topValues(): Record<string, string[]> {
    if (!this.topValuesCache) {
      // fromEntries defines own properties, so a field named "__proto__" is just a field.
      const top: Record<string, string[]> = Object.fromEntries(
        this.facets().map((facet) => [
          facet.name,
          Object.freeze(facet.values.map((v) => v.value)) as string[],
        ]),
      );
      this.topValuesCache = Object.freeze(top);
    }
    return this.topValuesCache;
  }

  /** Every field with its item count, distinct values and most frequent values with their counts. */
  facets(): FieldFacet[] {
    if (!this.facetsCache) {
      this.facetsCache = [...this.fields].map(([name, values]) => {
        let items = 0;
        const counts: Array<[string, number]> = [];
        for (const [value, list] of values) {
          items += list.length;
          counts.push([value, list.length]);
        }
        counts.sort(byCountThenValue);
        return {
          name,
          items,
          distinct: values.size,
          values: counts.slice(0, FIELD_VALUES_CAP).map(([value, count]) => ({ value, count })),
        };
      });
    }
    return this.facetsCache;
  }
}
