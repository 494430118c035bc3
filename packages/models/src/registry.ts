import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LookalikeError } from '@lookalike/config';
import registryJson from './registry.json';

const preprocessingSchema = z.object({
  resizeShorterSide: z.number().int().positive(),
  crop: z.number().int().positive(),
  colour: z.literal('RGB'),
  layout: z.literal('NCHW'),
  scale: z.number().positive(),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
});

const modelEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  file: z.string().regex(/^[A-Za-z0-9._-]+\.onnx$/),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  licence: z.string(),
  source: z.string(),
  urls: z.array(z.url()).min(1),
  input: z.object({
    /** null: the graph's only input. */
    name: z.string().nullable(),
    size: z.number().int().positive(),
    /** `fixed1-reshape-patchable`: batch 1 in the file, made dynamic at load time (ShuffleNetV2). */
    batch: z.enum(['dynamic', 'fixed1-reshape-patchable']),
  }),
  preprocessing: preprocessingSchema,
  embedding: z.object({
    /** null: find the pooled feature that feeds the classifier at load time. */
    tensor: z.string().nullable(),
    /** globalAveragePool: `tensor` is a feature map to pool; none: `tensor` is already pooled. */
    pooling: z.enum(['globalAveragePool', 'none', 'auto']),
    dimension: z.number().int().positive(),
  }),
  classifierOutput: z.string().nullable(),
});

const ensembleSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  description: z.string(),
  members: z.array(z.object({ model: z.string(), weight: z.number().positive() })).min(2),
});

export type ModelEntry = z.infer<typeof modelEntrySchema>;
export type Preprocessing = z.infer<typeof preprocessingSchema>;

/**
 * What `MODEL` names: one registry file, or an ensemble of them. Every member runs on the same
 * preprocessed pixels; the embedding is the concatenation of the members' L2-normalised embeddings,
 * each times its weight (and is L2-normalised again as a whole).
 */
export interface EmbeddingModel {
  name: string;
  members: ReadonlyArray<{ entry: ModelEntry; weight: number }>;
  /** Sum of the members' embedding dimensions. */
  dimension: number;
  /** Model input side, the same for every member. */
  inputSize: number;
  /** The same for every member (checked when the registry loads). */
  preprocessing: Preprocessing;
  /**
   * What vectors are stamped with: a single model's file sha256; for an ensemble, the sha256 of its
   * members' hashes and weights, so changing either makes old vectors incomparable.
   */
  sha256: string;
}

const registrySchema = z.object({
  defaultModel: z.string(),
  models: z.array(modelEntrySchema).min(1),
  ensembles: z.array(ensembleSchema).default([]),
});

export class UnknownModelError extends LookalikeError {
  constructor(name: string, known: string[]) {
    super('MODEL_UNKNOWN', `Unknown model "${name}". Known models: ${known.join(', ')}`);
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The embedding model of one model file (what `MODEL=<its name>` runs). */
export function embeddingModelOf(entry: ModelEntry): EmbeddingModel {
  return {
    name: entry.name,
    members: [{ entry, weight: 1 }],
    dimension: entry.embedding.dimension,
    inputSize: entry.input.size,
    preprocessing: entry.preprocessing,
    sha256: entry.sha256,
  };
}

function ensembleModel(
  spec: z.infer<typeof ensembleSchema>,
  files: ReadonlyMap<string, ModelEntry>,
): EmbeddingModel {
  const members = spec.members.map(({ model, weight }) => {
    const entry = files.get(model);
    if (!entry) throw new Error(`model registry: ensemble ${spec.name} names unknown model ${model}`);
    return { entry, weight };
  });
  const first = (members[0] as (typeof members)[number]).entry;
  for (const { entry } of members) {
    const a = entry.preprocessing;
    const b = first.preprocessing;
    // One decode feeds every member, so they must want the very same pixels.
    if (
      entry.input.size !== first.input.size ||
      a.resizeShorterSide !== b.resizeShorterSide ||
      a.crop !== b.crop ||
      a.scale !== b.scale ||
      !sameNumbers(a.mean, b.mean) ||
      !sameNumbers(a.std, b.std)
    )
      throw new Error(`model registry: ensemble ${spec.name} mixes preprocessing (${entry.name})`);
  }
  const identity = members.map(({ entry, weight }) => `${entry.sha256}*${weight}`).join('+');
  return {
    name: spec.name,
    members,
    dimension: members.reduce((sum, { entry }) => sum + entry.embedding.dimension, 0),
    inputSize: first.input.size,
    preprocessing: first.preprocessing,
    sha256: createHash('sha256').update(`ensemble:${identity}`).digest('hex'),
  };
}

export class ModelRegistry {
  readonly defaultModel: string;
  private readonly byName: Map<string, ModelEntry>;
  private readonly ensembles: Map<string, EmbeddingModel>;

  constructor(raw: unknown) {
    const parsed = registrySchema.parse(raw);
    this.byName = new Map(parsed.models.map((m) => [m.name, m]));
    if (this.byName.size !== parsed.models.length) throw new Error('model registry has duplicate names');
    this.ensembles = new Map(parsed.ensembles.map((e) => [e.name, ensembleModel(e, this.byName)]));
    if (
      this.ensembles.size !== parsed.ensembles.length ||
      [...this.ensembles.keys()].some((name) => this.byName.has(name))
    )
      throw new Error('model registry has duplicate names');
    if (!this.names().includes(parsed.defaultModel)) throw new Error('model registry default is not listed');
    this.defaultModel = parsed.defaultModel;
  }

  /** Every name `MODEL` accepts: the model files, then the ensembles. */
  names(): string[] {
    return [...this.byName.keys(), ...this.ensembles.keys()];
  }

  /** The model files. */
  list(): ModelEntry[] {
    return [...this.byName.values()];
  }

  /** The ensembles (each made of listed files). */
  listEnsembles(): EmbeddingModel[] {
    return [...this.ensembles.values()];
  }

  /** One model file by name. */
  get(name: string): ModelEntry {
    const entry = this.byName.get(name);
    if (!entry) throw new UnknownModelError(name, [...this.byName.keys()]);
    return entry;
  }

  /** What `MODEL=name` runs: a single model file or an ensemble. */
  resolve(name: string): EmbeddingModel {
    const ensemble = this.ensembles.get(name);
    if (ensemble) return ensemble;
    const entry = this.byName.get(name);
    if (!entry) throw new UnknownModelError(name, this.names());
    return embeddingModelOf(entry);
  }
}

/** The registry shipped with lookalike (src/registry.json). */
export const modelRegistry = new ModelRegistry(registryJson);
