import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { defaultModelIdentity, median, round, startApi } from './common';
import { catalogueSpace, publishCatalogue } from './compact';
import { fork } from 'node:child_process';
import type { EventsLoadJob, EventsLoadMessage } from './events-load-worker';
import { byIdRequests, runLoad, type LoadResult } from './load';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Shopper events under query load (issue 17): a real API process serves a 50k-item compact snapshot
 * and answers by-id queries at a fixed rate (open loop, 8 connections), first alone, then while
 * `POST /v1/events` receives 10,000 events per second (batches of 100 with fresh event ids, so every
 * event is validated, deduplicated and appended to the Redis stream — no replay shortcut). Both paths
 * are warmed up first; then 5 rounds of the two phases, in ABBA order, and the query p99 with events is
 * compared with the p99 without, round by round (median of the ratios). The events load runs in a
 * process of its own with its bodies made before the phase (events-load-worker.ts), so the load
 * generator's own work is not timed as query latency. The query rate is fixed rather than "as fast
 * as possible": a closed loop saturates both cores by itself, and then any extra work, events or
 * not, shows up one for one in its latency.
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

/**
 * Starts the events load in its own process (events-load-worker.ts says why); resolves once its
 * bodies are made and the load runs.
 */
async function startEventsLoad(job: EventsLoadJob): Promise<{ done: () => Promise<LoadResult> }> {
  const worker = fork(path.join(__dirname, 'events-load-worker.js'), [JSON.stringify(job)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // The events' senders stand for shoppers' browsers, which are not on the API's machine: at the
  // lowest priority, their process takes no CPU the API (or the client timing the queries) wants.
  if (worker.pid !== undefined) os.setPriority(worker.pid, 19);
  const messages: EventsLoadMessage[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  worker.on('message', (message: EventsLoadMessage) => {
    messages.push(message);
    wake?.();
  });
  worker.on('error', (err) => {
    failure = err;
    wake?.();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`events load process exited (${code})`);
    wake?.();
  });
  const next = async (): Promise<EventsLoadMessage> => {
    while (messages.length === 0) {
      if (failure) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return messages.shift() as EventsLoadMessage;
  };
  const ready = await next();
  if ('error' in ready) throw new Error(ready.error);
  worker.send('start');
  return {
    done: async () => {
      try {
        const reply = await next();
        if ('error' in reply) throw new Error(reply.error);
        if (!('result' in reply)) throw new Error('events load: unexpected message');
        return reply.result;
      } finally {
        worker.kill();
      }
    },
  };
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
    const rounds = context.quick ? 1 : 5;
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
      const measured: Round[] = [];
      try {
        const job = (phaseSeconds: number): EventsLoadJob => ({
          url: api.url,
          apiPid: api.pid,
          items: ITEMS,
          seconds: phaseSeconds,
          connections: EVENT_CONNECTIONS,
          rate: EVENTS_PER_SECOND_TARGET / EVENTS_PER_BATCH,
          eventsPerBatch: EVENTS_PER_BATCH,
          session,
        });
        const queriesFor = () =>
          runLoad(api.url, api.pid, queries, QUERY_CONNECTIONS, seconds, undefined, QUERY_RATE);
        // Warm-up of both paths (JIT, the stream's first allocations), unmeasured.
        const warmEvents = await startEventsLoad(job(3));
        await runLoad(api.url, api.pid, queries, QUERY_CONNECTIONS, 3, undefined, QUERY_RATE);
        await warmEvents.done();
        const alone = async (round: number) => {
          context.log(`events: round ${round}/${rounds}, queries alone ${seconds} s`);
          return queriesFor();
        };
        const withEventsPhase = async (round: number) => {
          context.log(`events: round ${round}/${rounds}, queries + ${EVENTS_PER_SECOND_TARGET} events/s`);
          const before = await redis.xlen(`${prefix}:events`);
          const events = await startEventsLoad(job(seconds));
          const queried = await queriesFor();
          const eventLoad = await events.done();
          const accepted = (await redis.xlen(`${prefix}:events`)) - before;
          return { queried, eventLoad, accepted };
        };
        for (let round = 1; round <= rounds; round++) {
          // ABBA: odd rounds measure alone first, even rounds with events first, so a drift of the
          // machine over the run (another tenant, the stream growing) weighs on both phases alike.
          let without: LoadResult;
          let phase: Awaited<ReturnType<typeof withEventsPhase>>;
          if (round % 2 === 1) {
            without = await alone(round);
            phase = await withEventsPhase(round);
          } else {
            phase = await withEventsPhase(round);
            without = await alone(round);
          }
          measured.push({
            without,
            with: phase.queried,
            events: phase.eventLoad,
            eventsAccepted: phase.accepted,
            eventsPerSecond: phase.accepted / phase.eventLoad.seconds,
            p99Ratio: phase.queried.p99 / without.p99,
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
