import { isLookalikeError } from '@lookalike/config';
import type { ApiConfig } from './config';
import { STATUS_BY_CODE, noSnapshot, queueUnavailable } from './errors';
import type { ApiDeps, SnapshotView } from './ports';
import type { SearchService } from './search/search-service';

/** What route plugins are given. */
export interface RouteContext {
  config: ApiConfig;
  deps: ApiDeps;
  search: SearchService;
}

/** OpenAPI security requirements per access level (see plugins/auth). */
export const SECURITY = {
  /** Key needed when the server has API_KEY. */
  write: [{ bearerAuth: [] }],
  /** Key needed only with API_KEY_READS=true: either no requirement or the bearer key. */
  read: [{}, { bearerAuth: [] }],
  public: [],
} as const;

/**
 * The live snapshot, or 503 NO_SNAPSHOT. Its items keep where their image came from in `source`,
 * apart from their metadata: responses list their fields explicitly and never include it.
 */
export function requireSnapshot(deps: ApiDeps): SnapshotView {
  const snapshot = deps.snapshots.current();
  if (!snapshot) throw noSnapshot();
  return snapshot;
}

/**
 * Runs a Redis-backed call with a deadline. Anything but a deliberate, known error (e.g. the queue
 * refusing a job) means Redis is unreachable or too slow: 503 QUEUE_UNAVAILABLE, not a hang or a 500.
 */
export async function redisCall<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(queueUnavailable(new Error(`no answer in ${timeoutMs} ms`))), timeoutMs);
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (err) {
    if (isLookalikeError(err) && (err.code in STATUS_BY_CODE || err.permanent)) throw err;
    throw queueUnavailable(err);
  } finally {
    clearTimeout(timer);
  }
}
