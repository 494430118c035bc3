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
export {
  AUTO_PROJECTION_SPEC,
  DEFAULT_PROJECTION_MIN_ITEMS,
  DEFAULT_PROJECTION_REFIT_FRACTION,
  decideProjection,
  parseIndexProjection,
  specKind,
  type ProjectionDecision,
  type ProjectionPolicyConfig,
  type ProjectionState,
} from './policy';
export { ProjectionMaintainer, fitInWorker, type ProjectionMaintainerOptions } from './maintainer';
export type {
  ProjectionChange,
  ProjectionEvents,
  ProjectionFitInput,
  ProjectionLogger,
  ProjectionSnapshot,
  ProjectionStore,
} from './maintainer-ports';
