import type { SnapshotReader } from '@lookalike/index-store';
import type { SnapshotRefusal, SnapshotSource, SnapshotView } from './ports';

/**
 * The API's view of the hot-reloading reader, plus what it refused: a published snapshot that failed
 * verification (truncated or altered file, another model) is kept out, the previous one keeps
 * serving, and the refusal stays visible on /v1/index and /metrics until a later snapshot is swapped
 * in — so "serving an older version than CURRENT names" is never silent.
 */
export class ServedSnapshots implements SnapshotSource {
  private lastRefusal: SnapshotRefusal | null = null;

  constructor(private readonly reader: SnapshotReader) {
    // The reader's first check ran inside open(), before any listener: a pointer refused then shows
    // in its status (nothing has been swapped in since, or only an older version).
    const { lastRejection, version } = reader.status();
    if (lastRejection && (version === null || lastRejection.version > version))
      this.lastRefusal = { ...lastRejection };
    reader.on('reject', (version, reason) => {
      this.lastRefusal = { version, reason, at: new Date().toISOString() };
    });
    reader.on('swap', () => {
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
}
