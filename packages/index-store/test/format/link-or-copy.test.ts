import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '@lookalike/config';
import { linkOrCopy } from '../../src/format/segments';
import { tempDataDir } from '../helpers';

describe('linkOrCopy', () => {
  it('hard-links on one file system (no bytes written) and copies across devices (EXDEV)', () => {
    const data = tempDataDir('index-store-link-');
    const logger = createLogger('index-store-test', 'silent');
    try {
      const source = path.join(data.dir, 'seg.served.f32');
      writeFileSync(source, Buffer.alloc(4096, 7));
      expect(linkOrCopy(source, path.join(data.dir, 'linked'), logger)).toBe(0);
      expect(statSync(source).nlink).toBe(2);
      // /dev/shm is another file system (tmpfs) here: the link is refused with EXDEV and the file copied.
      if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(data.dir).dev) return;
      const other = mkdtempSync(path.join('/dev/shm', 'index-store-link-'));
      try {
        const copied = path.join(other, 'copied');
        expect(linkOrCopy(source, copied, logger)).toBe(4096);
        expect(statSync(copied).nlink).toBe(1);
        expect(Buffer.compare(readFileSync(copied), readFileSync(source))).toBe(0);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    } finally {
      data.cleanup();
    }
  });
});
