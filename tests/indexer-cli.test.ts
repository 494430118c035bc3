/**
 * `lookalike import`: CSV reading (Kaggle layout, configurable columns) and the command's behaviour
 * with missing images and bad input. The end-to-end imports are in indexer-import/crash/redis tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CatalogueQueue } from '@lookalike/queue';
import { readCatalogueCsv, metadataKeyOf } from '../packages/cli/src/commands/import';
import { fieldMap } from '../packages/cli/src/options';
import {
  deleteQueueKeys,
  fashionCsv,
  fashionImagesDir,
  runImport,
  sharedRedisUrl,
  uniquePrefix,
} from './support';

jest.setTimeout(60_000);

describe('readCatalogueCsv', () => {
  it('reads the fashion sample: 5,885 rows, every other column as metadata', () => {
    const catalogue = readCatalogueCsv(readFileSync(fashionCsv, 'utf8'), {
      idColumn: 'id',
      imageTemplate: '{id}.jpg',
    });
    expect(catalogue.rows).toHaveLength(5885);
    expect(catalogue.skipped).toEqual([]);
    expect(catalogue.rows[0]).toEqual({
      id: '1563',
      imagePath: '1563.jpg',
      metadata: {
        articleType: 'Tshirts',
        baseColour: 'Blue',
        gender: 'Men',
        masterCategory: 'Apparel',
        subCategory: 'Topwear',
        productDisplayName: 'Quechua Men Sweat Proof Blue T-shirt',
        season: 'Fall',
        year: '2010',
        usage: 'Sports',
      },
    });
  });

  it('honours the id column, template and column selection; reports rows it cannot use', () => {
    const csv = [
      'sku,file,colour name,size',
      'a-1,x/a.png,red,M',
      'bad id!,x/b.png,blue,L',
      'a-1,x/c.png,green,S',
      'a-2,x/d.png,,XL',
      'a-3,x/e.png,black',
      '"a-4","x/f.png","white, off","S"',
    ].join('\n');
    const catalogue = readCatalogueCsv(csv, {
      idColumn: 'sku',
      imageTemplate: 'img/{file}',
      columns: ['colour name'],
    });
    expect(catalogue.rows).toEqual([
      { id: 'a-1', imagePath: 'img/x/a.png', metadata: { colour_name: 'red' } },
      { id: 'a-2', imagePath: 'img/x/d.png', metadata: {} },
      { id: 'a-4', imagePath: 'img/x/f.png', metadata: { colour_name: 'white, off' } },
    ]);
    expect(catalogue.skipped.map((s) => s.line)).toEqual([3, 4, 6]);
    expect(catalogue.renamed).toEqual({ 'colour name': 'colour_name' });
    expect(() => readCatalogueCsv(csv, { idColumn: 'id', imageTemplate: '{id}.jpg' })).toThrow(
      /no column "id"/,
    );
    expect(() =>
      readCatalogueCsv(csv, { idColumn: 'sku', imageTemplate: '{id}.jpg', columns: ['nope'] }),
    ).toThrow(/no column\(s\) nope/);
    expect(metadataKeyOf(' Größe (EU) ')).toBe('Gr_e_EU_');
    // A leading `_` would name an internal field, which the queue refuses.
    expect(metadataKeyOf('(EU) size')).toBe('EU_size');
    expect(metadataKeyOf('__')).toBe('field');
  });

  it('--map adds fields from a column or a template (what the shop widget reads as title, price, link)', () => {
    const csv = ['sku,name,cost', 'a-1,Blue shirt,19.90', 'a-2,,5'].join('\n');
    const catalogue = readCatalogueCsv(csv, {
      idColumn: 'sku',
      imageTemplate: '{id}.jpg',
      columns: [],
      fieldMap: fieldMap('title=name,price=cost', fieldMap('url=https://shop.example/p/{id}?n={name}')),
    });
    expect(catalogue.rows.map((r) => r.metadata)).toEqual([
      { title: 'Blue shirt', price: '19.90', url: 'https://shop.example/p/a-1?n=Blue shirt' },
      { price: '5', url: 'https://shop.example/p/a-2?n=' },
    ]);
    const read = (map: Record<string, string>) =>
      readCatalogueCsv(csv, { idColumn: 'sku', imageTemplate: '{id}.jpg', fieldMap: map });
    expect(() => read({ title: 'nope' })).toThrow(/--map title: no column\(s\) nope/);
    expect(() => read({ url: 'https://x/{missing}' })).toThrow(/no column\(s\) missing/);
    expect(() => read({ 'bad key': 'name' })).toThrow(/not a metadata key/);
    expect(() => fieldMap('title')).toThrow(/expected field=column/);
  });
});

describe('lookalike import (process)', () => {
  const prefix = uniquePrefix('cli');
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-cli-'));
  });
  const env = { REDIS_URL: sharedRedisUrl, QUEUE_PREFIX: prefix };
  afterAll(async () => {
    await deleteQueueKeys(sharedRedisUrl, prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('enqueues batches of at most --batch-size items and skips rows without an image file', async () => {
    const csv = path.join(dir, 'c.csv');
    const sample = readFileSync(fashionCsv, 'utf8').split('\n').slice(0, 8);
    writeFileSync(
      csv,
      [...sample, '99999999,Shirts,Red,Men,Apparel,Topwear,No Such Photo,Fall,2011,Casual'].join('\n'),
    );
    const run = await runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--batch-size', '3'],
      env,
      30_000,
    );
    expect(run.code).toBe(0);
    expect(run.summary).toMatchObject({ items: 7, jobs: 3, missingImages: ['99999999'] });
    const queue = new CatalogueQueue({ redisUrl: sharedRedisUrl, prefix });
    try {
      const jobs = await Promise.all(run.summary!.jobIds.map((id) => queue.getJob(id)));
      expect(jobs.map((j) => j?.state)).toEqual(['waiting', 'waiting', 'waiting']);
    } finally {
      await queue.close();
    }
  });

  it('sends the image bytes inline with --base64', async () => {
    const csv = path.join(dir, 'b.csv');
    writeFileSync(csv, readFileSync(fashionCsv, 'utf8').split('\n').slice(0, 3).join('\n'));
    const run = await runImport(
      ['--csv', csv, '--images', fashionImagesDir, '--base64'],
      { ...env, QUEUE_PREFIX: `${prefix}-b64` },
      30_000,
    );
    expect(run.code).toBe(0);
    const queue = new CatalogueQueue({ redisUrl: sharedRedisUrl, prefix: `${prefix}-b64` });
    try {
      const job = await queue.getJob(run.summary!.jobIds[0]!);
      expect(job?.kind).toBe('upsert');
    } finally {
      await queue.close();
      await deleteQueueKeys(sharedRedisUrl, `${prefix}-b64`);
    }
  });

  it('explains bad input without a stack trace', async () => {
    const run = await runImport(
      ['--csv', path.join(dir, 'missing.csv'), '--images', fashionImagesDir],
      env,
      30_000,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error \[IMPORT_INVALID\]: cannot read --csv/);
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
