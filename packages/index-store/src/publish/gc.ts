import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import {
  HOST_TAG,
  MANIFEST_FILE,
  TMP_DIR,
  parseTempName,
  parseVersionDirName,
  processAlive,
  snapshotDir,
  snapshotsDir,
  tempName,
} from '../format/layout';
import { decodeManifest } from '../format/manifest';
import { readRetired, writeRetired } from '../format/retired';
import { readFileIfExists, removeTree } from '../fsutil';
import type { PublishStep } from '../types';

export interface GcSettings {
  dataDir: string;
  /** Published versions kept, the current one included. */
  keepVersions: number;
  /** An old version is deleted only this long after it stopped being current. */
  gcGraceMs: number;
  /** A foreign temp entry untouched this long (and the grace period) is abandoned. */
  lockStaleMs: number;
  logger: Logger;
  step: (step: PublishStep) => Promise<void>;
}

/**
 * Keeps the current version and the keepVersions − 1 before it; deletes older ones once they have
 * been retired for gcGraceMs, orphans of crashed writers, and temp entries whose owner is gone.
 * Never fails the publish that ran it (that one is already committed).
 */
export async function collectGarbage(
  settings: GcSettings,
  current: number,
  retiredVersion: number | null,
): Promise<void> {
  const { dataDir, gcGraceMs, logger, step } = settings;
  try {
    const now = Date.now();
    const retired = await readRetired(dataDir);
    let retiredChanged = false;
    if (retiredVersion !== null && retired[retiredVersion] === undefined) {
      retired[retiredVersion] = new Date(now).toISOString();
      retiredChanged = true;
    }
    if (retiredChanged) await writeRetired(dataDir, retired);
    await step('retired-recorded');

    const versions = (await fsp.readdir(snapshotsDir(dataDir)))
      .map(parseVersionDirName)
      .filter((v): v is number => v !== null);
    const keep = await publishedChain(settings, current);
    const removed: number[] = [];
    for (const version of versions) {
      if (keep.has(version)) continue;
      const dir = snapshotDir(dataDir, version);
      let since: number;
      if (version > current) {
        // Built by a writer that crashed (or was fenced off) before switching the pointer.
        since = (await fsp.stat(dir)).mtimeMs;
      } else {
        const at = retired[version];
        if (at === undefined) {
          retired[version] = new Date(now).toISOString();
          retiredChanged = true;
          since = now;
        } else since = Date.parse(at);
      }
      if (now - since < gcGraceMs) continue;
      await removeSnapshotDir(dataDir, dir);
      delete retired[version];
      retiredChanged = true;
      removed.push(version);
    }
    for (const key of Object.keys(retired)) {
      if (!versions.includes(Number(key))) {
        delete retired[Number(key)];
        retiredChanged = true;
      }
    }
    if (retiredChanged) await writeRetired(dataDir, retired);
    await removeAbandonedTemps(settings, path.join(dataDir, TMP_DIR), now);
    await removeAbandonedTemps(settings, dataDir, now);
    if (removed.length > 0) logger.info({ removed }, 'old snapshots removed');
    await step('gc-done');
  } catch (err) {
    logger.warn({ err }, 'snapshot garbage collection failed; will retry after the next publish');
  }
}

/**
 * The current version and the ones that were current before it (following each manifest's basedOn),
 * keepVersions in all. Directories of writers that died before switching the pointer are not on
 * this chain, so they never take the place of a version readers actually served.
 */
async function publishedChain(settings: GcSettings, current: number): Promise<Set<number>> {
  const chain = new Set<number>();
  let version: number | null = current;
  while (version !== null && chain.size < settings.keepVersions && !chain.has(version)) {
    chain.add(version);
    const text = await readFileIfExists(path.join(snapshotDir(settings.dataDir, version), MANIFEST_FILE));
    if (!text) break;
    try {
      version = decodeManifest(text.toString('utf8')).basedOn;
    } catch {
      break;
    }
  }
  return chain;
}

/** Moves a snapshot directory out of snapshots/ first, so no one ever sees it half deleted. */
export async function removeSnapshotDir(dataDir: string, dir: string): Promise<void> {
  const aside = path.join(dataDir, TMP_DIR, tempName('trash'));
  await fsp.rename(dir, aside);
  await removeTree(aside);
}

/** Temp entries (build dirs, lock candidates, pointer temps) of processes that are gone. */
async function removeAbandonedTemps(settings: GcSettings, dir: string, now: number): Promise<void> {
  const { dataDir, gcGraceMs, lockStaleMs } = settings;
  for (const name of await fsp.readdir(dir)) {
    const owner = parseTempName(name);
    if (dir === dataDir && !owner) continue;
    let abandoned: boolean;
    if (owner?.kind === 'trash') abandoned = true;
    else if (owner && owner.hostTag === HOST_TAG)
      abandoned = owner.pid !== process.pid && !processAlive(owner.pid);
    else {
      const stat = await fsp.stat(path.join(dir, name)).catch(() => null);
      abandoned = stat !== null && now - stat.mtimeMs >= Math.max(gcGraceMs, lockStaleMs);
    }
    if (abandoned) await removeTree(path.join(dir, name)).catch(() => undefined);
  }
}
