import { Type, type Static } from '@sinclair/typebox';
import { IMAGE_REF_LIMITS } from '@lookalike/contracts';
import { FilterString, ItemId, component } from '../../schemas';
import { DEFAULT_NEGATIVE_WEIGHT } from '../../search/rocchio';
import { Collapse, FilterObject, K, MinScore } from '../similar/schemas';

/** Most positive examples of one request: each may cost an inference, and all of them a vector read. */
export const MAX_POSITIVE = 10;
/** Most negative examples of one request. */
export const MAX_NEGATIVE = 10;
/** Largest β: beyond it the negatives outweigh the positives and the query mostly points "away". */
export const MAX_NEGATIVE_WEIGHT = 2;

/** One example: a catalogue item (its stored vector) or an image (embedded like POST /v1/similar). */
export const RecommendExample = component(
  'RecommendExample',
  Type.Union(
    [
      Type.Object(
        { id: ItemId },
        { additionalProperties: false, description: 'A catalogue item: its stored vector, no inference.' },
      ),
      Type.Object(
        {
          imageUrl: Type.String({
            maxLength: IMAGE_REF_LIMITS.maxUrlLength,
            description: 'http(s) URL of an image; private and loopback addresses are refused.',
          }),
        },
        { additionalProperties: false, description: 'An image by URL, embedded like POST /v1/similar.' },
      ),
      Type.Object(
        {
          imageBase64: Type.String({
            description: 'The image bytes, base64 (a `data:image/…;base64,` prefix is allowed).',
          }),
        },
        {
          additionalProperties: false,
          description: 'An image given inline, embedded like POST /v1/similar.',
        },
      ),
    ],
    {
      description:
        'One example: exactly one of `id` (a catalogue item), `imageUrl` or `imageBase64` (an image, which ' +
        'takes one place in the inference queue).',
      examples: [{ id: '5974' }, { imageUrl: 'https://shop.example.com/p/15970.jpg' }],
    },
  ),
);
export type RecommendExample = Static<typeof RecommendExample>;

export const RecommendRequest = component(
  'RecommendRequest',
  Type.Object(
    {
      positive: Type.Array(RecommendExample, {
        minItems: 1,
        maxItems: MAX_POSITIVE,
        description: `Examples to look like (1–${MAX_POSITIVE}).`,
      }),
      negative: Type.Optional(
        Type.Array(RecommendExample, {
          maxItems: MAX_NEGATIVE,
          description: `Examples to move away from (0–${MAX_NEGATIVE}).`,
        }),
      ),
      negativeWeight: Type.Optional(
        Type.Number({
          minimum: 0,
          maximum: MAX_NEGATIVE_WEIGHT,
          default: DEFAULT_NEGATIVE_WEIGHT,
          description:
            `β in q = normalise(mean(positive) − β·mean(negative)), 0–${MAX_NEGATIVE_WEIGHT} ` +
            `(default ${DEFAULT_NEGATIVE_WEIGHT}); 0 ignores the negatives.`,
        }),
      ),
      k: Type.Optional(K),
      filter: Type.Optional(Type.Union([FilterObject, FilterString])),
      minScore: Type.Optional(MinScore),
      collapse: Type.Optional(Collapse),
    },
    {
      additionalProperties: false,
      description:
        '"More like these, less like that": catalogue items and/or images to look like and to move away from.',
      examples: [
        { positive: [{ id: '5974' }], negative: [{ id: '8154' }], k: 12 },
        {
          positive: [{ id: '5974' }, { imageUrl: 'https://shop.example.com/p/looks/42.jpg' }],
          negative: [{ id: '8154' }],
          negativeWeight: 0.5,
          filter: { gender: 'Men' },
        },
      ],
    },
  ),
);
export type RecommendRequest = Static<typeof RecommendRequest>;
