import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { defaultModelIdentity, median, round, startApi } from './common';
import { catalogueSpace, publishCatalogue } from './compact';
import { byIdRequests, runLoad, startLoad, type LoadResult } from './load';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Shopper events under query load (issue 17): a real API process serves a 50k-item compact snapshot
 * and answers by-id queries at a fixed rate (open loop, 8 connections), first alone, then while
 * `POST /v1/events` receives 10,000 events per second (batches of 100 with fresh event ids, so every
 * event is validated, deduplicated and appended to the Redis stream — no replay shortcut). The phases
 * alternate, rounds × 2, and the query p99 with events is compared with the p99 without, round by
 * round (medians). The query rate is fixed rather than "as fast as possible": a closed loop saturates
 * both cores by itself, and then any extra work, events or not, shows up one for one in its latency.
 */

const ITEMS = 50_000;
const QUERY_CONNECTIONS = 8;
/** By-id queries per second during both phases: a busy shop's traffic on this 2-core machine. */
const QUERY_RATE = 200;
const EVENTS_PER_BATCH = 100;
const EVENTS_PER_SECOND_TARGET = 10_000;
const EVENT_CONNECTIONS = 4;
/** The target: query p99 with events ≤ 1.10 × without. */
const P99_RATIO_TARGET = 1.1;

/** A batch of fresh events (new event ids each call) about items of the catalogue. */
function eventBatch(session: string): string {
  const now = new Date().toISOString();
  const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
    const source = Math.floor(Math.random() * ITEMS);
    return {
      eventId: randomUUID(),
      type: i % 10 === 0 ? 'click' : 'impression',
      itemId: `item-${(source + 1 + (i % 10)) % ITEMS}`,
      context: { sourceItemId: `item-${source}` },
      position: i % 10,
      timestamp: now,
      sessionId: session,
    };
  });
  return JSON.stringify({ events });
}

/** Deletes the event stream and its dedupe keys (prefix:events, prefix:events:seen:*). */
async function dropEventKeys(redis: Redis, prefix: string): Promise<void> {
  await redis.del(`${prefix}:events`);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:events:seen:*`, 'COUNT', 10_000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

interface Round {
  without: LoadResult;
  with: LoadResult;
  events: LoadResult;
  eventsAccepted: number;
  eventsPerSecond: number;
  p99Ratio: number;
}

export const eventsSuite: BenchSuite = {
  name: 'events',
  async run(context: BenchContext) {
    const model = defaultModelIdentity();
    const rounds = context.quick ? 1 : 3;
    const seconds = context.quick ? 5 : 10;
    const prefix = `bench-events-${randomBytes(4).toString('hex')}`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-events-'));
    const redis = new Redis(context.redisUrl, { maxRetriesPerRequest: 2 });
    try {
      context.log(`events: publishing a ${ITEMS}-item compact snapshot`);
      await publishCatalogue({
        dataDir,
        model,
        space: catalogueSpace(model, ITEMS),
        items: ITEMS,
        configuration: 'compact',
      });
      const api = await startApi(context, dataDir, ITEMS, {
        QUEUE_PREFIX: prefix,
        EVENTS_RATE_LIMIT_MAX: '0',
      });
      const queries = byIdRequests(ITEMS);
      const session = `bench-${randomBytes(6).toString('hex')}`;
      // The bodies are made before each events phase, not while it runs: the load generator shares the
      // two cores with the API and Redis, and building 100 UUIDs and a 20 kB JSON per POST during the
      // phase would take CPU from the system measured. Each phase gets its own fresh event ids.
      let bodies: string[] = [];
      let next = 0;
      const prepareBodies = (count: number) => {
        bodies = Array.from({ length: count }, () => eventBatch(session));
        next = 0;
      };
      const eventRequests = [
        {
          method: 'POST',
          path: '/v1/events',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request: { body?: string | Buffer }) => ({
            ...request,
            body: bodies[next++] ?? eventBatch(session),
          }),
        },
      ];
      const measured: Round[] = [];
      try {
        await runLoad(api.url, api.pid, queries, QUERY_CONNECTIONS, 2, undefined, QUERY_RATE); // warm-up
        for (let round = 1; round <= rounds; round++) {
          context.log(`events: round ${round}/${rounds}, queries alone ${seconds} s`);
          const without = await runLoad(
            api.url,
            api.pid,
            queries,
            QUERY_CONNECTIONS,
            seconds,
            undefined,
            QUERY_RATE,
          );
          context.log(`events: round ${round}/${rounds}, queries + ${EVENTS_PER_SECOND_TARGET} events/s`);
          prepareBodies(Math.ceil((seconds + 2) * (EVENTS_PER_SECOND_TARGET / EVENTS_PER_BATCH) * 1.2));
          const before = await redis.xlen(`${prefix}:events`);
          const events = startLoad(
            api.url,
            api.pid,
            eventRequests,
            EVENT_CONNECTIONS,
            seconds,
            undefined,
            EVENTS_PER_SECOND_TARGET / EVENTS_PER_BATCH,
          );
          const withEvents = await runLoad(
            api.url,
            api.pid,
            queries,
            QUERY_CONNECTIONS,
            seconds,
            undefined,
            QUERY_RATE,
          );
          const eventLoad = await events.done;
          const accepted = (await redis.xlen(`${prefix}:events`)) - before;
          measured.push({
            without,
            with: withEvents,
            events: eventLoad,
            eventsAccepted: accepted,
            eventsPerSecond: accepted / eventLoad.seconds,
            p99Ratio: withEvents.p99 / without.p99,
          });
        }
      } finally {
        await api.stop();
      }
      const table = eventsReport(measured, seconds);
      return { tables: [table], raw: { items: ITEMS, queryRate: QUERY_RATE, rounds: measured } };
    } finally {
      await dropEventKeys(redis, prefix).catch(() => undefined);
      redis.disconnect();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

export function eventsReport(rounds: Round[], seconds: number): BenchTable {
  const rows: Array<Array<string | number>> = [];
  rounds.forEach((r, i) => {
    rows.push([
      i + 1,
      'queries alone',
      round(r.without.requestsPerSecond, 0),
      round(r.without.p50, 1),
      round(r.without.p99, 1),
      r.without.errors,
      '',
      '',
      '',
    ]);
    rows.push([
      i + 1,
      `queries + events (${EVENTS_PER_BATCH} per POST)`,
      round(r.with.requestsPerSecond, 0),
      round(r.with.p50, 1),
      round(r.with.p99, 1),
      r.with.errors,
      round(r.eventsPerSecond, 0),
      `${round(r.events.p50, 1)} / ${round(r.events.p99, 1)}`,
      r.events.errors,
    ]);
  });
  const ratio = median(rounds.map((r) => r.p99Ratio));
  const rate = median(rounds.map((r) => r.eventsPerSecond));
  const errors = rounds.reduce((a, r) => a + r.without.errors + r.with.errors + r.events.errors, 0);
  rows.push([
    'median',
    `targets: events/s ${round(rate, 0)} ≥ ${EVENTS_PER_SECOND_TARGET} — ${rate >= EVENTS_PER_SECOND_TARGET * 0.98 ? 'met' : 'gap'}; ` +
      `query p99 with / without events ${round(ratio)}× ≤ ${P99_RATIO_TARGET}× — ${ratio <= P99_RATIO_TARGET ? 'met' : 'gap'}; ` +
      `errors ${errors} — ${errors === 0 ? 'met' : 'gap'}`,
    '',
    '',
    '',
    '',
    '',
    '',
    '',
  ]);
  return {
    title: `Shopper events under query load: ${ITEMS / 1000}k items (compact), by id at ${QUERY_RATE} req/s, ${EVENTS_PER_SECOND_TARGET} events/s`,
    columns: [
      'round',
      'phase',
      'query req/s',
      'query p50 ms',
      'query p99 ms',
      'query errors',
      'events/s stored',
      'POST /v1/events p50 / p99 ms',
      'event errors',
    ],
    rows,
    notes: [
      `Each phase ${seconds} s; queries open loop at ${QUERY_RATE} req/s over ${QUERY_CONNECTIONS} connections; events ${EVENTS_PER_SECOND_TARGET / EVENTS_PER_BATCH} POSTs/s of ${EVENTS_PER_BATCH} fresh events over ${EVENT_CONNECTIONS} connections; events/s stored = growth of the Redis stream (XLEN) over the phase.`,
    ],
  };
}
