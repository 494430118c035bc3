import { createLogger } from '@lookalike/config';
import { SnapshotCorruptError } from '@lookalike/index-store';
import { queueReindexIfModelChanged } from '../src/auto-reindex';

const model = { id: 'm', sha256: 'a'.repeat(64), dimension: 2 };

describe('queueReindexIfModelChanged', () => {
  it('does not throw when CURRENT names a corrupt snapshot (the indexer must stay up), and queues nothing', async () => {
    const enqueued: string[] = [];
    const result = await queueReindexIfModelChanged({
      store: {
        latest: () => Promise.reject(new SnapshotCorruptError(8, 'index.00000.faiss checksum mismatch')),
      },
      model,
      queue: { enqueueOnce: async (_job, id) => (enqueued.push(id), id) },
      logger: createLogger('test', 'silent'),
    });
    expect(result).toBeNull();
    expect(enqueued).toEqual([]);
  });

  it('still throws anything else (Redis down, a bug)', async () => {
    await expect(
      queueReindexIfModelChanged({
        store: { latest: () => Promise.reject(new Error('boom')) },
        model,
        queue: { enqueueOnce: async (_job, id) => id },
        logger: createLogger('test', 'silent'),
      }),
    ).rejects.toThrow('boom');
  });
});
