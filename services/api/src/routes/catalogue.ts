import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, requireSnapshot, type RouteContext } from '../context';
import { ApiError, itemNotFound } from '../errors';
import { checkFilterFields, parseFilter } from '../filter';
import type { Filter, Metadata, SnapshotView } from '../ports';
import {
  FilterString,
  ItemId,
  Metadata as MetadataSchema,
  exactProblemResponses,
  problemResponses,
} from '../schemas';

/**
 * Where the indexer keeps an item's thumbnail: `<DATA_DIR>/thumbnails/<id>.webp`, written by
 * services/indexer/src/thumbnails.ts (`thumbnailPath`): keep the two in step. Item ids match
 * ITEM_ID_PATTERN (checked by the route schema), so an id is always a plain file name.
 */
export function thumbnailPath(dataDir: string, id: string): string {
  return path.join(dataDir, 'thumbnails', `${id}.webp`);
}

/** How long browsers and proxies may reuse a thumbnail before revalidating it (ETag → 304). */
const THUMBNAIL_MAX_AGE_SECONDS = 600;
/** Most frequent values listed per field (the index store keeps the same cap for its field list). */
const FIELD_VALUES_CAP = 100;
const LIST_LIMIT_MAX = 100;

const ListQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: LIST_LIMIT_MAX, default: 24, description: 'Items per page.' }),
    ),
    offset: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0, description: 'Items to skip.' }),
    ),
    filter: Type.Optional(FilterString),
  },
  { additionalProperties: false },
);

const ItemList = Type.Object(
  {
    indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
    total: Type.Integer({ minimum: 0, description: 'Items matching the filter (all items without one).' }),
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    items: Type.Array(
      Type.Object({ id: ItemId, metadata: MetadataSchema }, { additionalProperties: false }),
      {
        description: 'In index order (the order items were first added).',
      },
    ),
  },
  { additionalProperties: false, description: 'One page of the catalogue.' },
);

const FieldsInfo = Type.Object(
  {
    indexVersion: Type.Integer({ description: 'Version of the snapshot that answered.' }),
    count: Type.Integer({ minimum: 0, description: 'Items in the snapshot.' }),
    fields: Type.Array(
      Type.Object(
        {
          name: Type.String({ description: 'Metadata field, usable in `filter`.' }),
          items: Type.Integer({ minimum: 1, description: 'Items that have the field.' }),
          distinct: Type.Integer({ minimum: 1, description: 'Distinct values of the field.' }),
          values: Type.Array(
            Type.Object(
              { value: Type.String(), count: Type.Integer({ minimum: 1 }) },
              { additionalProperties: false },
            ),
            { description: `The ${FIELD_VALUES_CAP} most frequent values at most, most frequent first.` },
          ),
        },
        { additionalProperties: false },
      ),
      { description: 'In the order the fields first occur in the catalogue.' },
    ),
  },
  {
    additionalProperties: false,
    description: 'The metadata fields of the live snapshot with value counts (for filter facets).',
  },
);

/** Same rule as the index store: fields ANDed, any of the values, compared as strings. */
function matches(metadata: Metadata, filter: Filter): boolean {
  for (const [field, condition] of Object.entries(filter)) {
    const value = metadata[field];
    if (value === undefined) return false;
    const wanted = Array.isArray(condition) ? condition : [condition];
    if (!wanted.some((w) => String(w) === String(value))) return false;
  }
  return true;
}

interface FieldSummary {
  name: string;
  items: number;
  distinct: number;
  values: Array<{ value: string; count: number }>;
}

/** Facet counts are computed once per snapshot (a snapshot never changes). */
const facetsBySnapshot = new WeakMap<SnapshotView, FieldSummary[]>();

function facetsOf(snapshot: SnapshotView): FieldSummary[] {
  const cached = facetsBySnapshot.get(snapshot);
  if (cached) return cached;
  const counts = new Map<string, Map<string, number>>();
  const itemsWith = new Map<string, number>();
  for (const id of snapshot.ids()) {
    const item = snapshot.get(id);
    if (!item) continue;
    for (const [field, raw] of Object.entries(item.metadata)) {
      const value = String(raw);
      let values = counts.get(field);
      if (!values) counts.set(field, (values = new Map()));
      values.set(value, (values.get(value) ?? 0) + 1);
      itemsWith.set(field, (itemsWith.get(field) ?? 0) + 1);
    }
  }
  const facets = [...counts].map(([name, values]) => ({
    name,
    items: itemsWith.get(name) ?? 0,
    distinct: values.size,
    values: [...values]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, FIELD_VALUES_CAP)
      .map(([value, count]) => ({ value, count })),
  }));
  facetsBySnapshot.set(snapshot, facets);
  return facets;
}

/**
 * Browsing the catalogue: pages of items, their thumbnails, and the metadata fields with value
 * counts. The demo page starts from these; any client can use them (e.g. for facets).
 */
const catalogueRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  const dataDir = path.resolve(config.DATA_DIR);
  // Behind an API key for reads, a shared cache must not hand thumbnails to other clients.
  const cacheScope = config.API_KEY && config.API_KEY_READS ? 'private' : 'public';

  app.get(
    '/v1/items',
    {
      config: { access: 'read' },
      schema: {
        tags: ['catalogue'],
        operationId: 'listItems',
        summary: 'Page through the items of the live snapshot',
        description:
          'Items in index order with their metadata, optionally only those matching `filter` ' +
          '(same syntax as the search routes).',
        security: SECURITY.read,
        querystring: ListQuery,
        response: { 200: ItemList, ...problemResponses(400, 401) },
      },
    },
    async (request) => {
      const snapshot = requireSnapshot(deps);
      const limit = request.query.limit ?? 24;
      const offset = request.query.offset ?? 0;
      const filter = parseFilter(request.query.filter, '/query/filter');
      checkFilterFields(filter, snapshot, '/query/filter');
      const items: Array<{ id: string; metadata: Metadata }> = [];
      let total = 0;
      if (!filter) {
        total = snapshot.count;
        let position = 0;
        for (const id of snapshot.ids()) {
          if (position >= offset + limit) break;
          if (position++ < offset) continue;
          const item = snapshot.get(id);
          if (item) items.push({ id, metadata: item.metadata });
        }
      } else {
        for (const id of snapshot.ids()) {
          const item = snapshot.get(id);
          if (!item || !matches(item.metadata, filter)) continue;
          if (total >= offset && items.length < limit) items.push({ id, metadata: item.metadata });
          total++;
        }
      }
      return { indexVersion: snapshot.version, total, offset, limit, items };
    },
  );

  app.get(
    '/v1/index/fields',
    {
      config: { access: 'read' },
      schema: {
        tags: ['search'],
        operationId: 'getIndexFields',
        summary: 'Metadata fields and value counts of the snapshot',
        description: 'What `filter` can use: every metadata field with its most frequent values and counts.',
        security: SECURITY.read,
        response: { 200: FieldsInfo, ...problemResponses(401) },
      },
    },
    async () => {
      const snapshot = requireSnapshot(deps);
      return { indexVersion: snapshot.version, count: snapshot.count, fields: facetsOf(snapshot) };
    },
  );

  app.get(
    '/v1/items/:id/image',
    {
      // A thumbnail costs a stat and a small read: a page of results loads dozens at once, so
      // they are not counted against the rate limit (like the health routes).
      config: { access: 'read', rateLimit: false },
      schema: {
        tags: ['catalogue'],
        operationId: 'getItemImage',
        summary: 'Thumbnail of an item (WebP, at most 256 px)',
        description:
          'Made by the indexer from the bytes it embedded. Cacheable: send If-None-Match with the ETag ' +
          'to get 304. 404 ITEM_NOT_FOUND for an id the live snapshot does not have, 404 ' +
          'THUMBNAIL_NOT_FOUND for an item indexed before thumbnails were kept (re-import it).',
        security: SECURITY.read,
        params: Type.Object({ id: ItemId }),
        response: {
          200: {
            description: 'The thumbnail.',
            content: { 'image/webp': { schema: Type.String({ format: 'binary' }) } },
            headers: {
              etag: Type.String(),
              'cache-control': Type.String(),
            },
          },
          304: { description: 'Not Modified: the If-None-Match ETag is current.', type: 'null' },
          ...exactProblemResponses(400, 401, 404, 503),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const snapshot = requireSnapshot(deps);
      if (!snapshot.get(id)) throw itemNotFound(id);
      const file = thumbnailPath(dataDir, id);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile()) {
        throw new ApiError(
          'THUMBNAIL_NOT_FOUND',
          `Item "${id}" has no thumbnail (indexed before thumbnails were kept?); import it again`,
          { details: { id } },
        );
      }
      const etag = `W/"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
      reply
        .header('etag', etag)
        .header('cache-control', `${cacheScope}, max-age=${THUMBNAIL_MAX_AGE_SECONDS}`)
        .header('x-content-type-options', 'nosniff');
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch?.split(',').some((tag) => tag.trim() === etag)) return reply.code(304).send();
      const bytes = await readFile(file).catch(() => null);
      // Replaced or removed between stat and read (an update or delete racing this request).
      if (!bytes) throw new ApiError('THUMBNAIL_NOT_FOUND', `Item "${id}" has no thumbnail now`);
      return reply.type('image/webp').send(bytes);
    },
  );
};

export default catalogueRoutes;
