import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import { SNAPSHOTS_DIR } from '@lookalike/contracts';
import { parseVersionDirName, type SnapshotReader } from '@lookalike/index-store';
import type { SnapshotRefusal, SnapshotSource, SnapshotView } from './ports';

/**
 * The API's view of the hot-reloading reader, plus what it refused: a published snapshot that failed
 * verification (truncated or altered file, another model) is kept out, an older one keeps serving,
 * and the refusal stays visible on /v1/index and /metrics until a snapshot at least as new is swapped
 * in — so "serving an older version than CURRENT names" is never silent.
 */
export class ServedSnapshots implements SnapshotSource {
  private lastRefusal: SnapshotRefusal | null = null;
  private fallingBack = false;

  constructor(
    private readonly reader: SnapshotReader,
    private readonly dataDir: string,
    private readonly logger?: Logger,
  ) {
    // The reader's first check ran inside open(), before any listener: a pointer refused then shows
    // in its status (nothing has been swapped in since, or only an older version).
    const { lastRejection, version } = reader.status();
    if (lastRejection && (version === null || lastRejection.version > version))
      this.lastRefusal = { ...lastRejection };
    reader.on('reject', (refused, reason) => {
      // Keep the newest refusal: an older version refused while falling back does not replace it.
      if (this.fallingBack && this.lastRefusal) return;
      this.lastRefusal = { version: refused, reason, at: new Date().toISOString() };
    });
    reader.on('swap', (snapshot) => {
      if (this.fallingBack || !this.lastRefusal) return;
      if (this.lastRefusal.version < 0 || snapshot.version >= this.lastRefusal.version)
        this.lastRefusal = null;
    });
  }

  current(): SnapshotView | null {
    return this.reader.current();
  }

  get reloads(): number {
    return this.reader.reloads;
  }

  get rejections(): number {
    return this.reader.rejections;
  }

  get refusal(): SnapshotRefusal | null {
    return this.lastRefusal;
  }

  /**
   * At start, when CURRENT names a version that failed verification and nothing is served, swaps to
   * the newest older version still on the volume that verifies (the writer keeps a few), instead of
   * answering 503 NO_SNAPSHOT with a good index on disk. The reader stays on it until CURRENT moves
   * on; the refusal stays reported meanwhile. Returns the version now served, or null.
   */
  async fallBackFromRefusedPointer(): Promise<number | null> {
    const refusal = this.lastRefusal;
    if (this.reader.current() !== null || refusal === null) return this.reader.current()?.version ?? null;
    const names = await readdir(path.join(this.dataDir, SNAPSHOTS_DIR)).catch(() => [] as string[]);
    const candidates = names
      .map(parseVersionDirName)
      .filter((v): v is number => v !== null && (refusal.version < 0 || v < refusal.version))
      .sort((a, b) => b - a);
    this.fallingBack = true;
    try {
      for (const version of candidates) {
        try {
          await this.reader.swapTo(version);
        } catch {
          continue; // refused too (the reader logged why): try the next older one
        }
        this.logger?.warn(
          { version, refused: refusal.version, reason: refusal.reason },
          'CURRENT names a snapshot that failed verification; serving the newest older version that verifies',
        );
        return version;
      }
    } finally {
      this.fallingBack = false;
    }
    this.logger?.error(
      { refused: refusal.version, reason: refusal.reason, tried: candidates },
      'CURRENT names a snapshot that failed verification and no older version verifies; nothing to serve',
    );
    return null;
  }
}
