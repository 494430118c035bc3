export {
  LinearProjection,
  ProjectionFormatError,
  type LinearProjectionParts,
  type ProjectionDescriptor,
} from './linear-projection';
export {
  fitProjection,
  fitProjectionWithStats,
  FIT_DEFAULTS,
  type FitOptions,
  type FitStats,
  type FittedProjection,
} from './fit';
export {
  parseProjectionSpec,
  formatProjectionSpec,
  ProjectionSpecError,
  DEFAULT_PROJECTION_SPEC,
  type ProjectionSpec,
} from './spec';
