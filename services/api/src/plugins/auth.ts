import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

/** Who may call a route: anyone, readers (key needed when API_KEY_READS) or writers (key needed). */
export type Access = 'public' | 'read' | 'write';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

export interface AuthOptions {
  apiKey: string | undefined;
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
  const { apiKey, protectReads } = options;
  if (!apiKey) return;
  const expected = digest(apiKey);
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access ?? 'public';
    if (access === 'public' || (access === 'read' && !protectReads)) return;
    if (!keyMatches(expected, request.headers.authorization)) {
      throw new ApiError(
        'UNAUTHORIZED',
        request.headers.authorization
          ? 'The API key is wrong'
          : 'This route needs an API key: Authorization: Bearer <key>',
      );
    }
  });
}

export default fp(authPlugin, { name: 'lookalike-auth', fastify: '5.x' });
