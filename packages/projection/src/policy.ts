import type { ProjectionDescriptor } from './linear-projection';
import {
  DEFAULT_PROJECTION_SPEC,
  formatProjectionSpec,
  parseProjectionSpec,
  type ProjectionSpec,
} from './spec';

/**
 * The spec INDEX_PROJECTION=auto fits: the default chosen by the 5-fold evaluation (README,
 * Evaluation → Compact projection), 256 dimensions — 9× fewer floats per item than the 2304-d ensemble.
 */
export const AUTO_PROJECTION_SPEC = DEFAULT_PROJECTION_SPEC;

/**
 * Below this many items `auto` (and an explicit spec) serves raw embeddings. A whitened fit divides
 * each kept direction by its estimated standard deviation; with n items the weakest of 256 eigenvalues
 * is estimated from n samples in a 2304-d space and is badly inflated noise until n ≫ 256 (an
 * eigenvalue's relative error is ~ √(2/n) at best, far worse for the tail when n is within a few
 * multiples of the dimension). 2,000 ≈ 8 × 256. Not measured on the eval's data (see the README).
 */
export const DEFAULT_PROJECTION_MIN_ITEMS = 2_000;

/** Refit once the item count moved, or the items indexed since the fit reached, this share. */
export const DEFAULT_PROJECTION_REFIT_FRACTION = 0.25;

export interface ProjectionPolicyConfig {
  /** The parsed INDEX_PROJECTION ('auto' resolved to AUTO_PROJECTION_SPEC); kind 'none': serve raw. */
  spec: ProjectionSpec;
  minItems: number;
  refitFraction: number;
}

/** What the policy reads of the newest version. */
export interface ProjectionState {
  /** Live items. */
  count: number;
  /** The projection served, or null (raw). */
  projection: ProjectionDescriptor | null;
  /** Live items indexed after projection.fittedAt (ignored without a projection). */
  indexedSinceFit: number;
  /** Whether the served projection maps the model the items are embedded with now (false: refit). */
  projectionModelCurrent: boolean;
}

export type ProjectionDecision =
  | { action: 'keep'; reason: string }
  | { action: 'clear'; reason: string }
  | { action: 'fit'; reason: string; spec: Exclude<ProjectionSpec, { kind: 'none' }> };

/**
 * Parses INDEX_PROJECTION: `none`, `auto` (AUTO_PROJECTION_SPEC) or a spec (see ./spec). Throws
 * ProjectionSpecError for a bad one.
 */
export function parseIndexProjection(text: string): ProjectionSpec {
  const value = text.trim();
  return parseProjectionSpec(value === 'auto' ? AUTO_PROJECTION_SPEC : value);
}

/**
 * The canonical spec text a projection fitted by ProjectionMaintainer carries as its descriptor's
 * `kind`, so the served projection's spec can be compared with the configured one.
 */
export function specKind(spec: ProjectionSpec): string {
  return formatProjectionSpec(spec);
}

/**
 * When to (re)fit, clear or keep the served projection — pure, so the rule is tested on its own:
 *
 * - spec `none`: clear a served projection, else keep (raw).
 * - fewer than `minItems` live items: keep what is served (raw before the first fit; a fitted
 *   projection is not cleared when deletes shrink the catalogue below the minimum — no flapping).
 * - no projection served, or one of another spec (its `kind` ≠ the canonical spec text) or model: fit.
 * - |count − fittedOn| ≥ refitFraction × fittedOn, or items indexed since the fit ≥ refitFraction ×
 *   count: fit (the catalogue changed enough that the fit no longer describes it).
 * - else keep.
 */
export function decideProjection(state: ProjectionState, config: ProjectionPolicyConfig): ProjectionDecision {
  const { spec, minItems, refitFraction } = config;
  const served = state.projection;
  if (spec.kind === 'none')
    return served
      ? { action: 'clear', reason: 'INDEX_PROJECTION=none: serving raw embeddings' }
      : { action: 'keep', reason: 'no projection configured' };
  if (state.count < minItems)
    return {
      action: 'keep',
      reason: `${state.count} items, fewer than the ${minItems} a fit needs${served ? '; the served projection stays' : ''}`,
    };
  if (!served)
    return { action: 'fit', reason: `${state.count} items reached the minimum of ${minItems}`, spec };
  const wanted = specKind(spec);
  // fitProjection appends "+lda" to the kind when it joined LDA directions.
  if (served.kind.replace(/\+lda$/, '') !== wanted)
    return {
      action: 'fit',
      reason: `the served projection is "${served.kind}", configured "${wanted}"`,
      spec,
    };
  if (!state.projectionModelCurrent)
    return { action: 'fit', reason: 'the served projection maps another model', spec };
  const moved = Math.abs(state.count - served.fittedOn);
  if (moved >= refitFraction * served.fittedOn)
    return { action: 'fit', reason: `${state.count} items, fitted on ${served.fittedOn}`, spec };
  if (state.indexedSinceFit >= refitFraction * state.count)
    return {
      action: 'fit',
      reason: `${state.indexedSinceFit} of ${state.count} items indexed since the fit`,
      spec,
    };
  return { action: 'keep', reason: 'the served projection is current' };
}
