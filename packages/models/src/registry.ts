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

export type ModelEntry = z.infer<typeof modelEntrySchema>;
export type Preprocessing = z.infer<typeof preprocessingSchema>;

const registrySchema = z.object({
  defaultModel: z.string(),
  models: z.array(modelEntrySchema).min(1),
});

export class UnknownModelError extends LookalikeError {
  constructor(name: string, known: string[]) {
    super('MODEL_UNKNOWN', `Unknown model "${name}". Known models: ${known.join(', ')}`);
  }
}

export class ModelRegistry {
  readonly defaultModel: string;
  private readonly byName: Map<string, ModelEntry>;

  constructor(raw: unknown) {
    const parsed = registrySchema.parse(raw);
    this.byName = new Map(parsed.models.map((m) => [m.name, m]));
    if (this.byName.size !== parsed.models.length) throw new Error('model registry has duplicate names');
    if (!this.byName.has(parsed.defaultModel)) throw new Error('model registry default is not listed');
    this.defaultModel = parsed.defaultModel;
  }

  list(): ModelEntry[] {
    return [...this.byName.values()];
  }

  get(name: string): ModelEntry {
    const entry = this.byName.get(name);
    if (!entry) throw new UnknownModelError(name, [...this.byName.keys()]);
    return entry;
  }
}

/** The registry shipped with lookalike (src/registry.json). */
export const modelRegistry = new ModelRegistry(registryJson);
