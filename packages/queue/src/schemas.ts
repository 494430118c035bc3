import path from 'node:path';
import {
  IMAGE_REF_LIMITS,
  ITEM_ID_PATTERN,
  METADATA_KEY_PATTERN,
  METADATA_LIMITS,
  type Metadata,
} from '@lookalike/contracts';
import type { ImageRef } from '@lookalike/image-source';
import { z } from 'zod';
import { InvalidJobError } from './errors';

export const MAX_ITEMS_PER_JOB = 500;
export const MAX_DELETE_IDS_PER_JOB = 1_000;
/** About 20 MiB once decoded: the embedder's default byte cap. */
export const MAX_IMAGE_BASE64_LENGTH = 28_000_000;
/** Inline images travel inside the Redis job; this bounds one job's size whatever its item count. */
export const MAX_JOB_BASE64_LENGTH = 50_000_000;

// Item ids, metadata keys and the limits on both are the catalogue contracts (@lookalike/contracts).
const MAX_METADATA_KEYS = METADATA_LIMITS.maxFields;
const MAX_METADATA_STRING_LENGTH = METADATA_LIMITS.maxStringLength;
const MAX_IMAGE_URL_LENGTH = IMAGE_REF_LIMITS.maxUrlLength;
const MAX_IMAGE_PATH_LENGTH = IMAGE_REF_LIMITS.maxPathLength;
const IMAGE_REF_KEYS = ['imageUrl', 'imagePath', 'imageBase64'] as const;

export type { Metadata };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * zod 4 skips refinements once a part of the value has failed; these run anyway (guarded to values
 * of the right shape) so that one parse reports every problem, not just the first layer of them.
 */
const whenObject = { when: (payload: { value: unknown }) => isRecord(payload.value) };
const whenArray = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };

export const itemIdSchema = z
  .string({ error: 'id must be a string' })
  .regex(ITEM_ID_PATTERN, 'id must be 1-128 characters of A-Z a-z 0-9 _ . : -');

const metadataKeySchema = z
  .string()
  .regex(
    METADATA_KEY_PATTERN,
    'metadata keys must be 1-64 characters of A-Z a-z 0-9 _, not starting with _ (reserved for internal fields)',
  );

const metadataValueSchema = z.union([z.string(), z.number()], {
  error: 'metadata values must be strings or finite numbers (flat, no objects or arrays)',
});

export const metadataSchema = z
  .record(metadataKeySchema, metadataValueSchema)
  .superRefine((metadata, ctx) => {
    const keys = Object.keys(metadata);
    if (keys.length > MAX_METADATA_KEYS) {
      ctx.addIssue({
        code: 'custom',
        message: `at most ${MAX_METADATA_KEYS} metadata keys (got ${keys.length})`,
      });
    }
    for (const key of keys) {
      const value = metadata[key];
      if (typeof value === 'string' && value.length > MAX_METADATA_STRING_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `metadata strings are at most ${MAX_METADATA_STRING_LENGTH} characters (got ${value.length})`,
        });
      }
    }
  }, whenObject);

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function isSafeRelativePath(value: string): boolean {
  if (value.includes('\0') || path.posix.isAbsolute(value) || path.win32.isAbsolute(value)) return false;
  return !value.split(/[\\/]/).includes('..');
}

/** The three ways to give an image; combine with `refineExactlyOneImageRef`. */
export const imageRefShape = {
  imageUrl: z
    .string()
    .max(MAX_IMAGE_URL_LENGTH, `imageUrl is at most ${MAX_IMAGE_URL_LENGTH} characters`)
    .refine(isHttpUrl, 'imageUrl must be an absolute http(s) URL')
    .optional(),
  imagePath: z
    .string()
    .min(1, 'imagePath must not be empty')
    .max(MAX_IMAGE_PATH_LENGTH, `imagePath is at most ${MAX_IMAGE_PATH_LENGTH} characters`)
    .refine(isSafeRelativePath, 'imagePath must be relative to the catalogue root, without ".." segments')
    .optional(),
  imageBase64: z
    .string()
    .min(1, 'imageBase64 must not be empty')
    .max(MAX_IMAGE_BASE64_LENGTH, `imageBase64 is at most ${MAX_IMAGE_BASE64_LENGTH} characters`)
    .optional(),
};

/** Adds an issue unless exactly one of imageUrl / imagePath / imageBase64 is present. */
export function refineExactlyOneImageRef(value: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const present = IMAGE_REF_KEYS.filter((key) => value[key] !== undefined);
  if (present.length === 1) return;
  ctx.addIssue({
    code: 'custom',
    message:
      present.length === 0
        ? 'exactly one of imageUrl, imagePath or imageBase64 is required'
        : `exactly one of imageUrl, imagePath or imageBase64 is allowed (got ${present.join(', ')})`,
  });
}

/**
 * Adds the exactly-one-image check to an object schema that spreads `imageRefShape`, e.g. an API
 * body: `withExactlyOneImageRef(z.strictObject({ ...imageRefShape, k: z.number() }))`.
 */
export function withExactlyOneImageRef<T extends z.ZodObject>(schema: T): T {
  return schema.superRefine(refineExactlyOneImageRef, whenObject);
}

export const imageRefSchema = withExactlyOneImageRef(z.strictObject(imageRefShape)) as unknown as z.ZodType<
  ImageRef,
  ImageRef
>;

export type CatalogueItem = { id: string; metadata: Metadata } & ImageRef;
/** What callers may send: metadata defaults to {}. */
export type CatalogueItemInput = { id: string; metadata?: Metadata } & ImageRef;

/**
 * One catalogue item. Unknown keys are refused (a misspelt `imageURL` must not pass as "no image").
 * zod cannot infer "exactly one of three keys" from the object shape, so the schema is typed with
 * the ImageRef union that the refinement enforces.
 */
export const catalogueItemSchema = withExactlyOneImageRef(
  z.strictObject({ id: itemIdSchema, metadata: metadataSchema.default({}), ...imageRefShape }),
) as unknown as z.ZodType<CatalogueItem, CatalogueItemInput>;

export const upsertJobSchema = z.strictObject({
  kind: z.literal('upsert'),
  items: z
    .array(catalogueItemSchema)
    .min(1, 'an upsert job needs at least one item')
    .max(MAX_ITEMS_PER_JOB, `at most ${MAX_ITEMS_PER_JOB} items per job; split larger batches`)
    .superRefine((items, ctx) => {
      // Runs even when some items failed, so every problem is reported at once: hence the guards.
      const firstIndex = new Map<string, number>();
      let base64Length = 0;
      items.forEach((item: unknown, index) => {
        if (!isRecord(item)) return;
        if (typeof item.imageBase64 === 'string') base64Length += item.imageBase64.length;
        if (typeof item.id !== 'string') return;
        const earlier = firstIndex.get(item.id);
        if (earlier === undefined) firstIndex.set(item.id, index);
        else {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'id'],
            message: `duplicate id "${item.id}" (also items[${earlier}]); one job holds each id once`,
          });
        }
      });
      if (base64Length > MAX_JOB_BASE64_LENGTH) {
        ctx.addIssue({
          code: 'custom',
          message: `inline images total ${base64Length} characters, more than ${MAX_JOB_BASE64_LENGTH} per job`,
        });
      }
    }, whenArray),
});

export const deleteJobSchema = z.strictObject({
  kind: z.literal('delete'),
  ids: z
    .array(itemIdSchema)
    .min(1, 'a delete job needs at least one id')
    .max(MAX_DELETE_IDS_PER_JOB, `at most ${MAX_DELETE_IDS_PER_JOB} ids per job; split larger batches`),
});

export const reindexJobSchema = z.strictObject({ kind: z.literal('reindex') });

export const catalogueJobSchema = z.discriminatedUnion(
  'kind',
  [upsertJobSchema, deleteJobSchema, reindexJobSchema],
  {
    error: 'kind must be "upsert", "delete" or "reindex"',
  },
);

export type UpsertJob = z.output<typeof upsertJobSchema>;
export type DeleteJob = z.output<typeof deleteJobSchema>;
export type ReindexJob = z.output<typeof reindexJobSchema>;
export type CatalogueJob = z.output<typeof catalogueJobSchema>;
export type CatalogueJobInput = z.input<typeof catalogueJobSchema>;
export type CatalogueJobKind = CatalogueJob['kind'];
export const CATALOGUE_JOB_KINDS: readonly CatalogueJobKind[] = ['upsert', 'delete', 'reindex'];

/** Validates a job (from an API body, the CLI, or a worker's job.data); throws InvalidJobError. */
export function parseCatalogueJob(input: unknown): CatalogueJob {
  const result = catalogueJobSchema.safeParse(input);
  if (!result.success) throw InvalidJobError.fromZodError(result.error);
  return result.data;
}
