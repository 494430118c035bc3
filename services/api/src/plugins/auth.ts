import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

/**
 * Who may call a route: anyone, readers (key needed when API_KEY_READS), writers (key needed), or
 * shop front ends posting shopper events (EVENTS_KEY or API_KEY; with neither set, open like writes).
 */
export type Access = 'public' | 'read' | 'write' | 'events';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

export interface AuthOptions {
  apiKey: string | undefined;
  /** Accepted on 'events' routes only, besides apiKey. */
  eventsKey?: string | undefined;
  protectReads: boolean;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Bearer-key check. Both sides are hashed first so the comparison is constant-time whatever the
 * length of the presented key.
 */
export function keyMatches(expectedDigest: Buffer, header: string | undefined): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const presented = digest(match?.[1] ?? '');
  return timingSafeEqual(presented, expectedDigest) && match !== null;
}

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const { apiKey, eventsKey, protectReads } = options;
  if (!apiKey && !eventsKey) return;
  const writeKey = apiKey ? digest(apiKey) : null;
  const eventKey = eventsKey ? digest(eventsKey) : null;
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access ?? 'public';
    if (access === 'public' || (access === 'read' && !protectReads)) return;
    const header = request.headers.authorization;
    let allowed: boolean;
    if (access === 'events') {
      // Either key posts events; the events key allows nothing else. Both are always compared
      // (constant time), so the answer's timing does not say which one a guess came close to.
      const byWriteKey = writeKey ? keyMatches(writeKey, header) : false;
      const byEventsKey = eventKey ? keyMatches(eventKey, header) : false;
      allowed = byWriteKey || byEventsKey;
    } else {
      // Writes (and protected reads) with API_KEY only; without API_KEY they are open, as before.
      allowed = writeKey ? keyMatches(writeKey, header) : true;
    }
    if (!allowed) {
      throw new ApiError(
        'UNAUTHORIZED',
        header ? 'The API key is wrong' : 'This route needs an API key: Authorization: Bearer <key>',
      );
    }
  });
}

export default fp(authPlugin, { name: 'lookalike-auth', fastify: '5.x' });
