import { randomBytes } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562) in lower case: 48 bits of Unix milliseconds, then 74 random bits. Opaque to
 * clients; time-ordered, so whoever later joins events to queries can read when a list was served
 * and range-scan by time, and random enough (74 bits per millisecond) never to repeat.
 */
export const QUERY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new query id for one result list. `now` is for tests. */
export function newQueryId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  // 48-bit big-endian timestamp (Number is exact up to 2^53).
  bytes.writeUIntBE(Math.max(0, Math.floor(now)) % 2 ** 48, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f); // version 7
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f); // variant 10
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The time (epoch ms) a query id was issued, or null when it is not one. */
export function queryIdTime(queryId: string): number | null {
  if (!QUERY_ID_PATTERN.test(queryId)) return null;
  return Number.parseInt(queryId.slice(0, 8) + queryId.slice(9, 13), 16);
}
