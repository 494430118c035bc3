export { FilterError } from './errors';
export { FILTER_LIMITS, checkFilter, parseFilter } from './check';
export { matchesFilter, conditionValues } from './match';
export {
  FieldIndex,
  FIELD_VALUES_CAP,
  type FieldFacet,
  type PositionPage,
  type MaybeYield,
} from './field-index';
export type { Filter } from '@lookalike/contracts';
