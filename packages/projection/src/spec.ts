import type { FitOptions } from './fit';

/**
 * A projection to fit, as one string — the eval's `--projection` and the indexer's INDEX_PROJECTION
 * use this parser, so a measured variant is configured by the same text:
 *
 *   none                                  raw embeddings, no projection
 *   pca:<dim>[,key=value…]                PCA to <dim> dimensions (β = 0: rotation + truncation)
 *   pca-whiten:<dim>[,key=value…]         PCA-whitening (β = 0.5 unless beta= says otherwise)
 *
 * keys: power=<p> (sign(x)|x|^p first; default 1), beta=<β> (components scaled by λ^−β),
 * shrink=<α> (eigenvalues shrunk towards their mean, 0..1), eps=<ε> (relative floor),
 * samples=<n> (items the covariance is estimated from), centre=0 (uncentred: second-moment
 * eigenvectors, zero mean, inner products close to the raw ones), lda=<m> (the last m of the <dim> outputs are
 * LDA directions on the ranking's first label field), ldaw=<γ> (their scale; default 1).
 * E.g. `pca-whiten:256,power=0.5,shrink=0.1`, `pca-whiten:256,lda=45`.
 */
export type ProjectionSpec = { kind: 'none' } | ({ kind: 'pca' | 'pca-whiten' } & FitOptions);

export class ProjectionSpecError extends Error {
  readonly code = 'PROJECTION_SPEC_INVALID';
  constructor(spec: string, reason: string) {
    super(`projection spec "${spec}": ${reason}`);
    this.name = 'ProjectionSpecError';
  }
}

const KEYS: Record<string, { option: keyof FitOptions; min: number; max: number; integer?: boolean }> = {
  power: { option: 'inputPower', min: 0.05, max: 4 },
  beta: { option: 'beta', min: 0, max: 2 },
  shrink: { option: 'shrinkage', min: 0, max: 1 },
  eps: { option: 'epsilon', min: 0, max: 1 },
  samples: { option: 'maxSamples', min: 2, max: 100_000_000, integer: true },
  centre: { option: 'centre', min: 0, max: 1, integer: true },
  lda: { option: 'ldaDimensions', min: 0, max: 4096, integer: true },
  ldaw: { option: 'ldaWeight', min: 0, max: 100 },
};

export function parseProjectionSpec(text: string): ProjectionSpec {
  const spec = text.trim();
  if (spec === 'none' || spec === '') return { kind: 'none' };
  const [head = '', ...pairs] = spec.split(',');
  const match = /^(pca|pca-whiten):(\d+)$/.exec(head.trim());
  if (!match) throw new ProjectionSpecError(spec, 'expected none, pca:<dim> or pca-whiten:<dim>');
  const kind = match[1] as 'pca' | 'pca-whiten';
  const outputDimension = Number(match[2]);
  if (outputDimension < 1) throw new ProjectionSpecError(spec, 'the dimension must be at least 1');
  const out: { kind: 'pca' | 'pca-whiten' } & FitOptions = {
    kind,
    outputDimension,
    beta: kind === 'pca' ? 0 : 0.5,
  };
  const seen = new Set<string>();
  for (const pair of pairs) {
    const [key = '', value, extra] = pair.split('=').map((s) => s.trim());
    const rule = KEYS[key];
    if (!rule) throw new ProjectionSpecError(spec, `unknown key "${key}" (${Object.keys(KEYS).join(', ')})`);
    if (seen.has(key)) throw new ProjectionSpecError(spec, `"${key}" given twice`);
    seen.add(key);
    const n = Number(value);
    if (value === undefined || value === '' || extra !== undefined || !Number.isFinite(n))
      throw new ProjectionSpecError(spec, `${key} needs a number`);
    if (n < rule.min || n > rule.max || (rule.integer && !Number.isInteger(n)))
      throw new ProjectionSpecError(
        spec,
        `${key} must be ${rule.integer ? 'a whole number ' : ''}in ${rule.min}..${rule.max}`,
      );
    (out as unknown as Record<string, number | boolean>)[rule.option] = key === 'centre' ? n === 1 : n;
  }
  if ((out.ldaDimensions ?? 0) >= outputDimension)
    throw new ProjectionSpecError(spec, `lda must be below the dimension (${outputDimension})`);
  if (kind === 'pca' && seen.has('beta'))
    throw new ProjectionSpecError(spec, 'beta applies to pca-whiten only (pca is β = 0)');
  return out;
}

/** The canonical text of a spec (keys in a fixed order, defaults left out): reports and logs. */
export function formatProjectionSpec(spec: ProjectionSpec): string {
  if (spec.kind === 'none') return 'none';
  const parts = [`${spec.kind}:${spec.outputDimension}`];
  if (spec.inputPower !== undefined && spec.inputPower !== 1) parts.push(`power=${spec.inputPower}`);
  if (spec.kind === 'pca-whiten' && spec.beta !== undefined && spec.beta !== 0.5)
    parts.push(`beta=${spec.beta}`);
  if (spec.shrinkage) parts.push(`shrink=${spec.shrinkage}`);
  if (spec.epsilon !== undefined) parts.push(`eps=${spec.epsilon}`);
  if (spec.maxSamples !== undefined) parts.push(`samples=${spec.maxSamples}`);
  if (spec.centre === false) parts.push('centre=0');
  if (spec.ldaDimensions) parts.push(`lda=${spec.ldaDimensions}`);
  if (spec.ldaWeight !== undefined) parts.push(`ldaw=${spec.ldaWeight}`);
  return parts.join(',');
}

/**
 * The projection the catalogue's vectors are served in unless configured otherwise: uncentred PCA of the
 * power-normalised (p = 0.5) raw embeddings, 128 outputs of which the last (at most 64, at most
 * classes − 1) are the ranking's LDA directions. 128 rather than 256: label quality within 0.0005 of
 * 256-d (5-fold eval), half the vector memory (1M items fit an API replica's 1.5 GB) and half the
 * scan time of an exact query (README, Evaluation → Compact projection; Performance).
 */
export const DEFAULT_PROJECTION_SPEC = 'pca:128,power=0.5,centre=0,lda=64';
