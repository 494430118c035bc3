import { buildJobResult } from '@lookalike/queue';
import type { RoutesOverFakes } from '../harness';

/** Route tests of jobs (run by test/routes.test.ts, which checks contract coverage). */
export function jobsRouteTests(h: RoutesOverFakes): void {
  const { call, json } = h;
  test('DELETE /v1/items/{id} and POST /v1/reindex queue jobs; GET /v1/jobs/{jobId} reports them', async () => {
    const deleted = await call(h.t, '/v1/items/{id}', { method: 'DELETE', url: '/v1/items/red-shirt' });
    expect(deleted.statusCode).toBe(202);
    const reindex = await call(h.t, '/v1/reindex', { method: 'POST', url: '/v1/reindex' });
    expect(reindex.statusCode).toBe(202);
    const deleteJob = (json(deleted) as { jobId: string }).jobId;
    expect(h.t.queue.jobs.get(deleteJob)?.job).toEqual({ kind: 'delete', ids: ['red-shirt'] });

    const entry = h.t.queue.jobs.get(deleteJob);
    if (!entry) throw new Error('job missing');
    entry.view = {
      ...entry.view,
      state: 'completed',
      progress: 100,
      finishedAt: new Date().toISOString(),
      result: buildJobResult({ deleted: ['red-shirt'], version: 9 }),
    };
    const status = await call(h.t, '/v1/jobs/{jobId}', { method: 'GET', url: `/v1/jobs/${deleteJob}` });
    expect(status.statusCode).toBe(200);
    expect(json(status)).toMatchObject({ id: deleteJob, kind: 'delete', state: 'completed', progress: 100 });
    expect((json(status).result as { deleted: string[] }).deleted).toEqual(['red-shirt']);

    const missing = await call(h.t, '/v1/jobs/{jobId}', { method: 'GET', url: '/v1/jobs/12345678' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing).code).toBe('JOB_NOT_FOUND');
  });

  test('Redis down: writes and job reads get 503 QUEUE_UNAVAILABLE with Retry-After', async () => {
    h.t.queue.down = 'refuse';
    const write = await call(h.t, '/v1/reindex', { method: 'POST', url: '/v1/reindex' });
    expect(write.statusCode).toBe(503);
    expect(json(write).code).toBe('QUEUE_UNAVAILABLE');
    expect(write.headers['retry-after']).toBe('5');
    const read = await call(h.t, '/v1/jobs/{jobId}', { method: 'GET', url: '/v1/jobs/1' });
    expect(read.statusCode).toBe(503);
  });
}
