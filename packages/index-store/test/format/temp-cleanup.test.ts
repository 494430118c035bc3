import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stagePointer } from '../../src/format/pointer';
import { writeFileAtomic } from '../../src/fsutil';

// A write that fails part-way (a full disk, an I/O error) leaves no temp file beside CURRENT or
// retired.json: the sweep of abandoned temp files only takes those of processes that have exited.
describe('temp files of failed small writes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-temp-cleanup-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stagePointer removes its temp file when the write fails', async () => {
    await expect(
      stagePointer(dir, { version: 3, manifestSha256: 'a'.repeat(64) }, async () => {
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      }),
    ).rejects.toThrow('no space left');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writeFileAtomic removes its temp file when the rename fails', async () => {
    // The target is a non-empty directory: the rename over it fails after the temp file is written.
    mkdirSync(path.join(dir, 'retired.json', 'x'), { recursive: true });
    await expect(writeFileAtomic(path.join(dir, 'retired.json'), '{}', 'retired.tmp')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['retired.json']);
  });
});
