import { randomUUID } from 'node:crypto';
import type { LoadResult } from './load';
import { runPaced } from './paced';

/**
 * The events load of the `events` suite, paced (paced.ts), in a child process of its own at the
 * lowest CPU priority. The query load's latencies are timed on the bench's main event loop; were the events load (100 POSTs/s of 20 kB bodies and
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
  const bodies = Array.from({ length: Math.round(job.seconds * job.rate) }, () =>
    eventBatch(job.session, job.items, job.eventsPerBatch),
  );
  send({ ready: true });
  process.once('message', () => {
    runPaced({
      url: job.url,
      apiPid: job.apiPid,
      rate: job.rate,
      seconds: job.seconds,
      connections: job.connections,
      request: (i) => ({
        method: 'POST',
        path: '/v1/events',
        headers: { 'content-type': 'application/json' },
        body: bodies[i] ?? eventBatch(job.session, job.items, job.eventsPerBatch),
      }),
    })
      .then((result) => send({ result }))
      .catch((err: unknown) => send({ error: String(err) }));
  });
}

// Forked by events.ts with the job as its one argument (JSON).
if (require.main === module && process.send) run(JSON.parse(process.argv[2] ?? '{}') as EventsLoadJob);
