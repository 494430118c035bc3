import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  SnapshotWriter,
  type ItemInput,
  type PublishResult,
  type SnapshotChange,
} from '@lookalike/index-store';
import type { LinearProjection } from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG, RankingMaintainer } from '@lookalike/ranking';
import { defaultModelIdentity, round } from './common';
import { COMPACT_SPEC, catalogueSpace, fitCompactProjection, type Configuration } from './compact';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * What a small change costs to publish at 50k items (quick: 10k), raw vs compact: one new item, one
 * replaced item, one delete, each its own publish after a full one — bytes written
 * (PublishResult.bytesWritten: new files only, hard-linked segments cost nothing) and wall time. Two
 * paths per configuration: the bare SnapshotWriter, and through the RankingMaintainer as the indexer
 * publishes (its item-features attachment, derived from the exact base, is part of every publish; the
 * ranking model is fitted after the full publish, and waited for, before the small changes).
 */

export type PublishPath = 'SnapshotWriter' | 'RankingMaintainer (indexer path)';
const OPERATIONS = ['upsert one new item', 'replace one item', 'delete one item'] as const;
/** The target: a one-item upsert at 50k publishes ≤ 8 MB. */
const TARGET_BYTES = 8e6;

interface PublishPoint {
  configuration: Configuration;
  path: PublishPath;
  items: number;
  full: { bytes: number; ms: number };
  operations: Array<{ operation: (typeof OPERATIONS)[number]; bytes: number; ms: number }>;
  failed?: string;
}

function withColour(items: ItemInput[]): Array<ItemInput & { colour: Float32Array }> {
  // A colour histogram like the embedder's (101 bins), so the ranking attachment carries colours too.
  return items.map((item, i) => {
    const colour = new Float32Array(101);
    colour[i % 12] = 0.7;
    colour[96 + (i % 5)] = 0.3;
    return { ...item, colour };
  });
}

async function measure(
  context: BenchContext,
  configuration: Configuration,
  publishPath: PublishPath,
  items: number,
  raw: Float32Array,
  projection: LinearProjection | null,
): Promise<PublishPoint> {
  const model = defaultModelIdentity();
  const d = model.dimension;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-publish-'));
  const item = (position: number, vector: Float32Array, id = `item-${position}`) =>
    withColour([
      {
        id,
        vector,
        metadata: { gender: position % 2 ? 'Men' : 'Women', articleType: `type-${position % 40}` },
        contentHash: `synthetic-${id}-${position}`,
      },
    ])[0] as ItemInput & { colour: Float32Array };
  const writer = await SnapshotWriter.open({ dataDir, model, gcGraceMs: 0 });
  const maintainer =
    publishPath === 'SnapshotWriter'
      ? null
      : new RankingMaintainer(writer, {
          config: { ...DEFAULT_RANKING_CONFIG },
          // The ranking reads the served vectors (compact with a projection).
          dimension: projection ? projection.outputDimension : d,
        });
  const publish = (change: SnapshotChange): Promise<PublishResult> =>
    maintainer
      ? maintainer.publish(change as Parameters<typeof maintainer.publish>[0])
      : writer.publish(change);
  const point: PublishPoint = {
    configuration,
    path: publishPath,
    items,
    full: { bytes: NaN, ms: NaN },
    operations: [],
  };
  try {
    context.log(`publish: ${configuration} via ${publishPath}, ${items} items`);
    const upserts = Array.from({ length: items }, (_, i) => item(i, raw.subarray(i * d, (i + 1) * d)));
    let started = performance.now();
    const full = await publish({
      upserts,
      deletes: [],
      ...(projection ? { projection, projectionReplaces: null } : {}),
    });
    point.full = { bytes: full.bytesWritten, ms: performance.now() - started };
    await maintainer?.idle();
    const fresh = catalogueSpace(model, items, 0x777).sample(2, 0x4242);
    const changes: Record<(typeof OPERATIONS)[number], SnapshotChange> = {
      'upsert one new item': { upserts: [item(items, fresh.subarray(0, d))], deletes: [] },
      'replace one item': { upserts: [item(123, fresh.subarray(d, 2 * d))], deletes: [] },
      'delete one item': { upserts: [], deletes: ['item-456'] },
    };
    for (const operation of OPERATIONS) {
      started = performance.now();
      const result = await publish(changes[operation]);
      point.operations.push({ operation, bytes: result.bytesWritten, ms: performance.now() - started });
      await maintainer?.idle();
    }
  } catch (err) {
    point.failed = err instanceof Error ? err.message : String(err);
    context.log(`publish: ${configuration} via ${publishPath} failed: ${point.failed}`);
  } finally {
    await maintainer?.close();
    await writer.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return point;
}

export function publishReport(points: PublishPoint[]): BenchTable {
  const mb = (bytes: number) => round(bytes / 1e6, 2);
  const rows: Array<Array<string | number>> = [];
  for (const p of points) {
    if (p.failed) {
      rows.push([p.configuration, p.path, p.items, `failed: ${p.failed.slice(0, 120)}`, '', '', '']);
      continue;
    }
    rows.push([
      p.configuration,
      p.path,
      p.items,
      `full publish of ${p.items}`,
      mb(p.full.bytes),
      round(p.full.ms, 0),
      '',
    ]);
    for (const o of p.operations) {
      const target =
        o.operation === 'upsert one new item' && p.configuration === 'compact'
          ? `target ≤ 8 MB: ${o.bytes <= TARGET_BYTES ? 'met' : 'gap'}`
          : '';
      rows.push([p.configuration, p.path, p.items, o.operation, mb(o.bytes), round(o.ms, 0), target]);
    }
  }
  return {
    title: `Publish cost of a small change, raw vs compact (${COMPACT_SPEC})`,
    columns: [
      'configuration',
      'published through',
      'items',
      'change',
      'MB written (bytesWritten)',
      'ms',
      'target',
    ],
    rows,
    notes: [
      'MB = 10⁶ bytes of new files the publish wrote (PublishResult.bytesWritten); segments kept from the base are hard-linked ' +
        'and cost nothing. Compact publishes also write the new items’ raw vectors (kept for re-projection). Each change is its own ' +
        'publish after the full one; through the RankingMaintainer the ranking model is fitted after the full publish (its own ' +
        'publish, not counted) and every change carries the item-features attachment derived from its base.',
    ],
  };
}

export const publishSuite: BenchSuite = {
  name: 'publish',
  async run(context: BenchContext) {
    const model = defaultModelIdentity();
    const items = context.quick ? 10_000 : 50_000;
    const raw = catalogueSpace(model, items).sample(items, 0x5eed);
    const { projection, fitMs } = fitCompactProjection(raw, items, model);
    context.log(`publish: projection fitted in ${round(fitMs, 0)} ms`);
    const points: PublishPoint[] = [];
    for (const publishPath of ['SnapshotWriter', 'RankingMaintainer (indexer path)'] as const)
      for (const configuration of ['raw', 'compact'] as const)
        points.push(
          await measure(
            context,
            configuration,
            publishPath,
            items,
            raw,
            configuration === 'compact' ? projection : null,
          ),
        );
    return { tables: [publishReport(points)], raw: { items, fitMs, points } };
  },
};
