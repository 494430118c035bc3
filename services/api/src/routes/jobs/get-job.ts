import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { SECURITY, redisCall, type RouteContext } from '../../context';
import { jobNotFound } from '../../errors';
import { ItemId, component, problemResponses } from '../../schemas';

/** Job ids as the queue makes them (BullMQ ids, or a caller's). */
const JOB_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';

const IdList = Type.Array(ItemId);

const JobResult = component(
  'JobResult',
  Type.Object(
    {
      indexed: Type.Array(ItemId, { description: 'Items embedded and published.' }),
      unchanged: Type.Array(ItemId, { description: 'Items whose image and metadata were already indexed.' }),
      deleted: IdList,
      notFound: Type.Array(ItemId, { description: 'Deleted ids the index did not have.' }),
      failed: Type.Array(
        Type.Object(
          {
            id: ItemId,
            code: Type.String({ description: 'Stable code, e.g. IMAGE_CORRUPT, SOURCE_NOT_FOUND.' }),
            reason: Type.String(),
          },
          { additionalProperties: false },
        ),
        { description: 'Items that could not be indexed, with the reason.' },
      ),
      version: Type.Union([Type.Integer(), Type.Null()], {
        description: 'Snapshot version that contains the changes (null: nothing published).',
      }),
    },
    { additionalProperties: false, description: 'The per-item outcome of a completed job.' },
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
      result: Type.Union([JobResult, Type.Null()], { description: 'Set once the job completed.' }),
      failedReason: Type.Union([Type.String(), Type.Null()], {
        description: 'Why the last attempt failed (per-item failures are in result.failed).',
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
