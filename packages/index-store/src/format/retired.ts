import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../fsutil';
import { RETIRED_FILE, tempName } from './layout';

/** retired.json: version → when it stopped being current (ISO 8601), for GC's grace period. */
export type Retired = Record<number, string>;

/** Anything unreadable reads as empty: the file only delays deletions, it never guards data. */
export function decodeRetired(text: Buffer | null): Retired {
  if (!text) return {};
  try {
    const value = JSON.parse(text.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) return {};
    const result: Retired = {};
    for (const [key, at] of Object.entries(value)) {
      if (/^\d+$/.test(key) && typeof at === 'string' && !Number.isNaN(Date.parse(at)))
        result[Number(key)] = at;
    }
    return result;
  } catch {
    return {};
  }
}

export function encodeRetired(retired: Retired): string {
  return JSON.stringify(retired);
}

export async function readRetired(dataDir: string): Promise<Retired> {
  return decodeRetired(await readFileIfExists(path.join(dataDir, RETIRED_FILE)));
}

export async function writeRetired(dataDir: string, retired: Retired): Promise<void> {
  await writeFileAtomic(path.join(dataDir, RETIRED_FILE), encodeRetired(retired), tempName('retired'));
}
