import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import {
  ALL_ITEMS_FAILED,
  JOB_RESULT_LISTS,
  JOB_RESULT_MAX_FAILURES,
  JOB_RESULT_MAX_IDS,
  JOB_RESULT_MAX_REASON_LENGTH,
  type JobResultList,
} from '@lookalike/queue';
import { SECURITY, redisCall, type RouteContext } from '../../context';
import { jobNotFound } from '../../errors';
import { ItemId, component, problemResponses } from '../../schemas';

/** Job ids as the queue makes them (BullMQ ids, or a caller's). */
const JOB_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';

/** A capped id list: the first JOB_RESULT_MAX_IDS ids in code-unit order; `counts` has the totals. */
const idList = (description: string) =>
  Type.Array(ItemId, {
    maxItems: JOB_RESULT_MAX_IDS,
    description: `${description} At most ${JOB_RESULT_MAX_IDS}, the first by id; counts holds the total.`,
  });

/** One property per result list (indexed, unchanged, deleted, notFound, failed). */
function perList<T extends TSchema>(schema: (list: JobResultList) => T): TObject<Record<JobResultList, T>> {
  const properties = Object.fromEntries(JOB_RESULT_LISTS.map((list) => [list, schema(list)]));
  return Type.Object(properties as Record<JobResultList, T>, { additionalProperties: false });
}

const JobResult = component(
  'JobResult',
  Type.Object(
    {
      counts: perList((list) => Type.Integer({ minimum: 0, description: `Exact number of ${list} items.` })),
      indexed: idList('Items embedded and published.'),
      unchanged: idList(
        'Items whose image and metadata were already indexed (reindex: changed by a newer job).',
      ),
      deleted: idList('Ids removed from the index.'),
      notFound: idList('Deleted ids the index did not have.'),
      failed: Type.Array(
        Type.Object(
          {
            id: ItemId,
            code: Type.String({ description: 'Stable code, e.g. IMAGE_CORRUPT, SOURCE_NOT_FOUND.' }),
            reason: Type.String({ maxLength: JOB_RESULT_MAX_REASON_LENGTH }),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: JOB_RESULT_MAX_FAILURES,
          description: `Items that could not be indexed, with the reason. At most ${JOB_RESULT_MAX_FAILURES}, the first by id; counts.failed holds the total.`,
        },
      ),
      truncated: perList((list) =>
        Type.Boolean({ description: `True when ${list} lists fewer entries than counts.${list}.` }),
      ),
      version: Type.Union([Type.Integer(), Type.Null()], {
        description: 'Snapshot version that contains the changes (null: nothing published).',
      }),
    },
    { additionalProperties: false, description: 'The per-item outcome of a job.' },
  ),
);

const JobStatus = component(
  'Job',
  Type.Object(
    {
      id: Type.String(),
      kind: Type.String({ description: 'upsert, delete or reindex.' }),
      state: Type.Union([
        Type.Literal('waiting'),
        Type.Literal('active'),
        Type.Literal('completed'),
        Type.Literal('failed'),
        Type.Literal('delayed'),
      ]),
      progress: Type.Number({ minimum: 0, maximum: 100, description: 'Percent done.' }),
      result: Type.Union([JobResult, Type.Null()], {
        description: `Set once the job completed, and on a job that failed with failedCode ${ALL_ITEMS_FAILED} (every item failed; the failures are in result.failed).`,
      }),
      failedReason: Type.Union([Type.String(), Type.Null()], {
        description: 'Why the last attempt failed (per-item failures are in result.failed).',
      }),
      failedCode: Type.Union([Type.String(), Type.Null()], {
        description: `Stable code of a job that failed for good: ${ALL_ITEMS_FAILED} (not retried), JOB_INVALID, …; null while it may still succeed, or when the cause has no code.`,
      }),
      attemptsMade: Type.Integer({ minimum: 0 }),
      createdAt: Type.String({ format: 'date-time' }),
      finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    },
    {
      additionalProperties: false,
      description: 'The job, its progress and (once completed) its per-item outcome.',
    },
  ),
);

const jobRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { config, deps }) => {
  app.get(
    '/v1/jobs/:jobId',
    {
      config: { access: 'read' },
      schema: {
        tags: ['jobs'],
        operationId: 'getJob',
        summary: 'State and outcome of a catalogue job',
        security: SECURITY.read,
        params: Type.Object({ jobId: Type.String({ pattern: JOB_ID_PATTERN }) }),
        response: { 200: JobStatus, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      const job = await redisCall(() => deps.queue.getJob(jobId), config.REDIS_TIMEOUT_MS);
      if (!job) throw jobNotFound(jobId);
      return job;
    },
  );
};

export default jobRoutes;
