/**
 * FeedbackRefresher on real components: the event stream on the real Redis (its own key prefix) and a
 * real SnapshotWriter (synthetic vectors). What a refresh publishes, when it publishes nothing, and
 * how deletes and retention reach the published table.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisEventLog, RedisEventStream, eventKeys, type ShopperEvent } from '@lookalike/events';
import { CO_ENGAGEMENT_ATTACHMENT, decodeFeedbackAttachment } from '@lookalike/feedback';
import { SnapshotWriter, type ItemInput } from '@lookalike/index-store';
import { FeedbackRefresher } from '../src/feedback-refresher';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const model = { id: 'feedback-model', sha256: 'f'.repeat(64), dimension: 16 };
const ITEMS = 80;

/** Deterministic unit vectors: item i near item i±1 (a ring), so every item has close neighbours. */
function items(): ItemInput[] {
  return Array.from({ length: ITEMS }, (_, i) => {
    const v = new Float32Array(model.dimension);
    const angle = (2 * Math.PI * i) / ITEMS;
    v[0] = Math.cos(angle);
    v[1] = Math.sin(angle);
    v[2 + (i % 8)] = 0.3;
    const norm = Math.hypot(...v);
    for (let j = 0; j < v.length; j++) v[j] = (v[j] as number) / norm;
    return { id: `i${i}`, vector: v, metadata: { group: `g${i % 2}` }, contentHash: `h${i}` };
  });
}

describe('FeedbackRefresher (real Redis stream, real SnapshotWriter)', () => {
  let redis: Redis;
  let prefix: string;
  let dataDir: string;
  let writer: SnapshotWriter;
  let refresher: FeedbackRefresher;

  beforeEach(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    prefix = `lookalike-test-feedback-${randomUUID()}`;
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'feedback-refresher-'));
    writer = await SnapshotWriter.open({ dataDir, model, gcGraceMs: 0 });
    await writer.publish({ upserts: items(), deletes: [] });
    refresher = new FeedbackRefresher(
      new RedisEventStream(redis, prefix),
      { latest: () => writer.latest(), publish: (change) => writer.publish(change) },
      {
        intervalMs: 60_000,
        retentionMs: 86_400_000,
        candidates: 20,
        slotFields: [],
        floorSample: 40,
        floorQuantile: 0.05,
      },
    );
  });

  afterEach(async () => {
    await refresher.close();
    await writer.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Sessions on item `source`'s page: the 10 ring neighbours shown, `liked` clicked in most sessions. */
  async function postSessions(source: number, liked: number, sessions: number): Promise<void> {
    const log = new RedisEventLog({ connection: redis, prefix, maxLength: 1_000_000, dedupeTtlSeconds: 600 });
    const shown = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5].map((d) => `i${(source + d + ITEMS) % ITEMS}`);
    for (let s = 0; s < sessions; s++) {
      const sessionId = `s_${randomUUID()}`;
      const timestamp = new Date(Date.now() - s * 1000).toISOString();
      const context = { sourceItemId: `i${source}` };
      const events: ShopperEvent[] = shown.map((itemId, position) => ({
        eventId: randomUUID(),
        type: 'impression',
        itemId,
        context,
        position,
        timestamp,
        sessionId,
      }));
      if (s % 5 !== 4)
        events.push({
          eventId: randomUUID(),
          type: 'click',
          itemId: `i${liked}`,
          context,
          position: shown.indexOf(`i${liked}`),
          timestamp,
          sessionId,
        });
      await log.append(events);
    }
  }

  test('no events: nothing is published', async () => {
    const before = (await writer.latest())?.version;
    expect(await refresher.refresh()).toMatchObject({ published: false, reason: 'no-events' });
    expect((await writer.latest())?.version).toBe(before);
  });

  test('events are aggregated and published as the attachment; an unchanged stream publishes nothing', async () => {
    await postSessions(10, 15, 40);
    const outcome = await refresher.refresh();
    expect(outcome).toMatchObject({ published: true, events: 40 * 10 + 32 });
    const snapshot = await writer.latest();
    const bytes = snapshot?.attachment(CO_ENGAGEMENT_ATTACHMENT);
    expect(bytes).toBeDefined();
    const { table, settings, blend } = decodeFeedbackAttachment(bytes as Uint8Array);
    expect(settings).toEqual({ slotFields: [], candidates: 20 });
    // The clicked item is the page's strongest pair; the ignored ones fall below 0.
    expect(table.pairScore('i10', 'i15')).toBeGreaterThan(0);
    expect(table.pairScore('i10', 'i11')).toBeLessThan(0);
    expect(Number.isFinite(blend.floor)).toBe(true);
    const version = snapshot?.version;
    expect(await refresher.refresh()).toMatchObject({ published: false, reason: 'unchanged' });
    expect((await writer.latest())?.version).toBe(version);
  });

  test('a deleted item drops out of the published table at the next refresh', async () => {
    await postSessions(10, 15, 40);
    await refresher.refresh();
    await writer.publish({ upserts: [], deletes: ['i15'] });
    expect(await refresher.refresh()).toMatchObject({ published: true });
    const { table } = decodeFeedbackAttachment(
      (await writer.latest())?.attachment(CO_ENGAGEMENT_ATTACHMENT) as Uint8Array,
    );
    expect(table.pairScore('i10', 'i15')).toBe(0);
    expect(table.neighbours('i10').some((e) => e.id === 'i15')).toBe(false);
    expect(table.itemScore('i15')).toBe(0);
    expect(table.neighbours('i10').length).toBeGreaterThan(0);
  });

  test('events past the retention are trimmed from the stream; when none is left the attachment goes', async () => {
    await postSessions(10, 15, 40);
    await refresher.refresh();
    expect((await writer.latest())?.attachment(CO_ENGAGEMENT_ATTACHMENT)).toBeDefined();
    const expired = new FeedbackRefresher(
      new RedisEventStream(redis, prefix),
      { latest: () => writer.latest(), publish: (change) => writer.publish(change) },
      // Retention 1 ms: every event was appended longer ago than that.
      {
        intervalMs: 60_000,
        retentionMs: 1,
        candidates: 20,
        slotFields: [],
        floorSample: 40,
        floorQuantile: 0.05,
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await expired.refresh()).toMatchObject({ published: true, events: 0 });
    expect((await writer.latest())?.attachment(CO_ENGAGEMENT_ATTACHMENT)).toBeUndefined();
    expect(await redis.xlen(eventKeys(prefix).stream)).toBeLessThan(40 * 10 + 32);
    await expired.close();
  });
});
