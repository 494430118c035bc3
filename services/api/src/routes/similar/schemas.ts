import { Type, type Static } from '@sinclair/typebox';
import { IMAGE_REF_LIMITS } from '@lookalike/contracts';
import { MIN_CROP_SIDE } from '@lookalike/embedder';
import { QUERY_ID_PATTERN } from '@lookalike/events';
import { FILTER_LIMITS } from '@lookalike/filter';
import { K_CEILING } from '../../config';
import {
  FilterString,
  ItemId,
  METADATA_KEY,
  Metadata,
  MetadataValue,
  ModelName,
  component,
  keyedRecord,
} from '../../schemas';

/** The schemas of the two similarity queries (by image, by item). */

export const SearchHit = component(
  'SearchHit',
  Type.Object(
    {
      id: ItemId,
      score: Type.Number({
        description:
          'Ranking score; results are ordered by it, higher is better. With the learned ranking (a snapshot ' +
          'fitted from catalogue labels) it adds label and colour agreement to the similarity and can exceed 1; ' +
          'without it, it equals `similarity`. Compare scores within one answer only.',
      }),
      similarity: Type.Number({
        description:
          'Cosine similarity, −1…1 (1 = identical), of the two items’ vectors in the served space: the ' +
          'catalogue’s learned, whitened space when the index serves a projection (`GET /v1/index` ' +
          '`projection`), else the raw embeddings. What `minScore` and `collapse` are measured in.',
      }),
      metadata: Metadata,
      signals: Type.Array(
        Type.Union([Type.Literal('visual'), Type.Literal('labels'), Type.Literal('feedback')]),
        {
          minItems: 1,
          maxItems: 3,
          uniqueItems: true,
          description:
            'What ordered this result: always `visual` (its similarity); `labels` when the learned ranking ' +
            '(label and colour agreement) moved its score; `feedback` when shoppers’ published co-engagement ' +
            '(by-id queries with `blend=hybrid`) re-ordered it.',
          examples: [['visual', 'labels']],
        },
      ),
    },
    { additionalProperties: false, description: 'One result of a similarity query.' },
  ),
);

export const SimilarResponse = component(
  'SimilarResponse',
  Type.Object(
    {
      queryId: Type.String({
        pattern: QUERY_ID_PATTERN.source,
        description:
          'Opaque, unique id of this result list (a UUIDv7). Send it as `context.queryId` with the shopper ' +
          'events (POST /v1/events) about the items of this list.',
        examples: ['01938c6e-5a2b-7c3d-8e4f-0a1b2c3d4e5f'],
      }),
      indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
      model: ModelName,
      results: Type.Array(SearchHit, { description: 'Best first.' }),
    },
    { additionalProperties: false, description: 'The most similar items, best first.' },
  ),
);

/** For operations whose options all go in the body: a stray `?k=` is refused rather than ignored. */
export const NoQuery = Type.Object(
  {},
  { additionalProperties: false, description: 'No query parameters: options go in the request body.' },
);

export const K = Type.Integer({
  minimum: 1,
  maximum: K_CEILING,
  default: 10,
  description: `Number of results (1–${K_CEILING}; the server may cap it lower with MAX_K).`,
});
export const MinScore = Type.Number({
  minimum: -1,
  maximum: 1,
  description:
    'Drop results whose `similarity` (cosine in the served space, −1…1) is lower. The scale depends on ' +
    'the space: a whitened projection spreads unrelated items around 0, the raw embeddings around 0.5.',
});
export const Collapse = Type.Number({
  exclusiveMinimum: 0,
  maximum: 1,
  description:
    'Near-duplicate collapse: drop a result whose cosine similarity (in the served space) to a better ' +
    'result is at least this. Re-encoded or resized copies of one photo measure about 0.95 or more on the ' +
    'raw embeddings but about 0.8 or more in a whitened projection (`GET /v1/index` `projection`): ' +
    'choose the threshold for the space served.',
});
export const FilterObject = keyedRecord(
  METADATA_KEY,
  Type.Union([
    MetadataValue,
    Type.Array(MetadataValue, { minItems: 1, maxItems: FILTER_LIMITS.maxValuesPerField }),
  ]),
  {
    maxProperties: FILTER_LIMITS.maxFields,
    description: 'Metadata filter: every field must equal the value (or one of the values).',
    examples: [{ gender: 'Men', baseColour: ['Blue', 'Navy Blue'] }],
  },
);

const CROP_DESCRIPTION =
  'Search with this region of the image only ("crop to search"): normalised to the image as displayed ' +
  '(after EXIF orientation), `x`, `y` the top-left corner and `w`, `h` the size, each a fraction 0–1 of ' +
  'the width or height, with x + w ≤ 1 and y + h ≤ 1. The region is embedded exactly as if it were the ' +
  `whole image. A region outside the image, or under ${MIN_CROP_SIDE}×${MIN_CROP_SIDE} source pixels once ` +
  'rounded to whole pixels, is refused with 400 INVALID_CROP.';
const Fraction = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });
const Extent = (description: string) => Type.Number({ exclusiveMinimum: 0, maximum: 1, description });

export const CropBox = component(
  'CropBox',
  Type.Object(
    {
      x: Fraction('Left edge, as a fraction of the image width.'),
      y: Fraction('Top edge, as a fraction of the image height.'),
      w: Extent('Width, as a fraction of the image width (x + w ≤ 1).'),
      h: Extent('Height, as a fraction of the image height (y + h ≤ 1).'),
    },
    {
      additionalProperties: false,
      description: CROP_DESCRIPTION,
      examples: [{ x: 0, y: 0.1, w: 0.5, h: 0.6 }],
    },
  ),
);

/** A number 0–1 as a form field: `0`, `1`, `0.25`, `.5`, `1.0`. */
const FORM_FRACTION = String.raw`(?:0(?:\.[0-9]+)?|\.[0-9]+|1(?:\.0+)?)`;
/** The crop as a multipart text field: `x,y,w,h` (the same numbers as the JSON object, in that order). */
export const CropField = Type.String({
  pattern: `^${FORM_FRACTION}(?:,${FORM_FRACTION}){3}$`,
  maxLength: 128,
  description: `${CROP_DESCRIPTION} As a form field: the four numbers \`x,y,w,h\`, comma-separated.`,
  examples: ['0,0.1,0.5,0.6'],
});

const ImageRefFields = {
  imageUrl: Type.Optional(
    Type.String({
      maxLength: IMAGE_REF_LIMITS.maxUrlLength,
      description: 'http(s) URL of the query image; private and loopback addresses are refused.',
    }),
  ),
  imageBase64: Type.Optional(
    Type.String({ description: 'The image bytes, base64 (a `data:image/…;base64,` prefix is allowed).' }),
  ),
  imagePath: Type.Optional(
    Type.String({
      maxLength: IMAGE_REF_LIMITS.maxPathLength,
      description: 'Path under the server’s CATALOGUE_ROOT.',
    }),
  ),
};

/** Exactly one image reference. */
const ONE_IMAGE_REF = [
  { required: ['imageUrl'] },
  { required: ['imageBase64'] },
  { required: ['imagePath'] },
];

export const SimilarJsonBody = component(
  'SimilarRequest',
  Type.Object(
    {
      ...ImageRefFields,
      k: Type.Optional(K),
      filter: Type.Optional(Type.Union([FilterObject, FilterString])),
      minScore: Type.Optional(MinScore),
      collapse: Type.Optional(Collapse),
      crop: Type.Optional(CropBox),
    },
    {
      additionalProperties: false,
      oneOf: ONE_IMAGE_REF,
      description: 'Exactly one of imageUrl, imageBase64, imagePath.',
      examples: [
        { imageUrl: 'https://shop.example.com/p/15970.jpg', k: 12, filter: { gender: 'Men' } },
        { imageUrl: 'https://shop.example.com/p/looks/42.jpg', crop: { x: 0.05, y: 0.3, w: 0.4, h: 0.6 } },
      ],
    },
  ),
);
export type SimilarJsonBody = Static<typeof SimilarJsonBody>;

export const SimilarMultipartBody = component(
  'SimilarUpload',
  Type.Object(
    {
      image: Type.String({
        format: 'binary',
        contentMediaType: 'application/octet-stream',
        description: 'The query image file (JPEG, PNG, WebP, GIF, AVIF, TIFF).',
      }),
      k: Type.Optional(K),
      filter: Type.Optional(FilterString),
      minScore: Type.Optional(MinScore),
      collapse: Type.Optional(Collapse),
      crop: Type.Optional(CropField),
    },
    { additionalProperties: false, description: 'An image query by upload: the file and the query options.' },
  ),
);
export type SimilarMultipartBody = Static<typeof SimilarMultipartBody>;

export const Blend = Type.Union([Type.Literal('hybrid'), Type.Literal('visual')], {
  default: 'hybrid',
  description:
    '`hybrid` (default): the visual results re-ordered with what shoppers did on this item’s page and ' +
    'with these items (co-engagement the indexer learns from POST /v1/events and publishes with the ' +
    'snapshot, weights fitted on held-out sessions); only among the top visual candidates, within ' +
    'their label groups, never lifting an item below the visual similarity floor. Identical to ' +
    '`visual` while no feedback is published. `visual`: feedback off, for comparison.',
});

export const ByItemQuery = Type.Object(
  {
    k: Type.Optional(K),
    filter: Type.Optional(FilterString),
    minScore: Type.Optional(MinScore),
    collapse: Type.Optional(Collapse),
    blend: Type.Optional(Blend),
  },
  { additionalProperties: false },
);
