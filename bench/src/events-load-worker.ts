import { randomUUID } from 'node:crypto';
import { startLoad, type LoadResult } from './load';

/**
 * The events load of the `events` suite, in a child process of its own (not a worker thread:
 * autocannon run inside a worker thread takes itself for one of its own workers and answers raw
 * histograms). The query load's latencies
 * are timed on the bench's main event loop; were the events load (100 POSTs/s of 20 kB bodies and
 * their answers) on that same loop, its work would delay when query answers are read and show up as
 * query latency that the API never had. The bodies are made before the phase starts, with fresh
 * event ids, so building them takes no CPU from the system measured either.
 */

export interface EventsLoadJob {
  url: string;
  apiPid: number;
  items: number;
  seconds: number;
  connections: number;
  /** POSTs per second. */
  rate: number;
  eventsPerBatch: number;
  session: string;
}

export type EventsLoadMessage = { ready: true } | { result: LoadResult } | { error: string };

/** A batch of fresh events (new event ids each call) about items of an `items`-item catalogue. */
export function eventBatch(session: string, items: number, size: number): string {
  const now = new Date().toISOString();
  const events = Array.from({ length: size }, (_, i) => {
    const source = Math.floor(Math.random() * items);
    return {
      eventId: randomUUID(),
      type: i % 10 === 0 ? 'click' : 'impression',
      itemId: `item-${(source + 1 + (i % 10)) % items}`,
      context: { sourceItemId: `item-${source}` },
      position: i % 10,
      timestamp: now,
      sessionId: session,
    };
  });
  return JSON.stringify({ events });
}

function run(job: EventsLoadJob): void {
  const send = (message: EventsLoadMessage) => process.send?.(message);
  // 20 % spare: the open loop may send a few more than rate × seconds.
  const bodies = Array.from({ length: Math.ceil((job.seconds + 2) * job.rate * 1.2) }, () =>
    eventBatch(job.session, job.items, job.eventsPerBatch),
  );
  let next = 0;
  const requests = [
    {
      method: 'POST' as const,
      path: '/v1/events',
      headers: { 'content-type': 'application/json' },
      setupRequest: (request: { body?: string | Buffer }) => ({
        ...request,
        body: bodies[next++] ?? eventBatch(job.session, job.items, job.eventsPerBatch),
      }),
    },
  ];
  send({ ready: true });
  process.once('message', () => {
    startLoad(job.url, job.apiPid, requests, job.connections, job.seconds, undefined, job.rate)
      .done.then((result) => send({ result }))
      .catch((err: unknown) => send({ error: String(err) }));
  });
}

// Forked by events.ts with the job as its one argument (JSON).
if (require.main === module && process.send) run(JSON.parse(process.argv[2] ?? '{}') as EventsLoadJob);
