import { segmentFile } from '../format/layout';
import type { ManifestSegment } from '../format/manifest';
import type { SnapshotImpl } from '../query/snapshot';
import type { StoredItem } from '../types';

/**
 * The item records a reader already decoded, by segment: a new version shares most of its segments
 * with the one served (hard-linked, byte-identical files), so only the segments it wrote itself need
 * their JSON parsed on the event loop. A segment is reused only when its items file has the same name
 * and sha256 in both manifests — and the new file has been verified against that checksum — so a
 * reused record is exactly what decoding the new file would give. Parsing 50k records took most of a
 * swap's event-loop time (`pnpm bench reload`).
 */
export class DecodedSegments {
  private readonly bySegment = new Map<number, { sha256: string; positionOfRow: Int32Array }>();

  private constructor(private readonly previous: SnapshotImpl) {}

  /** The decoded records of `previous` (a format-2 snapshot), or null when it has no segments. */
  static of(previous: SnapshotImpl | undefined): DecodedSegments | null {
    const segments = previous?.manifest.segments;
    const rows = previous?.segmentRowsOf();
    if (!previous || !segments || !rows) return null;
    const decoded = new DecodedSegments(previous);
    const positionOfRow = segments.map((segment) => new Int32Array(segment.rows).fill(-1));
    for (let position = 0; position < previous.count; position++)
      (positionOfRow[rows.segment[position] as number] as Int32Array)[rows.row[position] as number] =
        position;
    segments.forEach((segment, index) => {
      const entry = previous.manifest.files[segmentFile(segment.id, 'items')];
      if (entry)
        decoded.bySegment.set(segment.id, {
          sha256: entry.sha256,
          positionOfRow: positionOfRow[index] as Int32Array,
        });
    });
    return decoded;
  }

  /**
   * Copies the live records of `segment` (its items file verified to have `sha256`) into `out` from
   * `at` on and returns the next free position; null when this segment was not decoded before (or a
   * row live now was not live then), so the caller decodes the file.
   */
  take(segment: ManifestSegment, sha256: string, out: StoredItem[], at: number): number | null {
    const known = this.bySegment.get(segment.id);
    if (!known || known.sha256 !== sha256 || known.positionOfRow.length !== segment.rows) return null;
    let position = at;
    let nextDead = 0;
    for (let row = 0; row < segment.rows; row++) {
      if (segment.dead[nextDead] === row) {
        nextDead++;
        continue;
      }
      const previousPosition = known.positionOfRow[row] as number;
      // A tombstone never comes back to life in a kept file; if it did, decode rather than guess.
      if (previousPosition < 0) return null;
      out[position++] = this.previous.itemAt(previousPosition);
    }
    return position;
  }
}
