import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '@lookalike/config';
import { WriterLockTimeoutError } from '../errors';
import { FENCE_DIR, HOST_TAG, LOCK_DIR, TMP_DIR, processAlive, tempName } from '../format/layout';
import { fsyncDir, isErrno, removeTree, sleep } from '../fsutil';

const OWNER_FILE = 'owner.json';
const FENCE_DIGITS = 16;
const FENCES_KEPT = 32;

interface Owner {
  pid: number;
  hostTag: string;
  hostname: string;
  nonce: string;
  acquiredAt: string;
}

export interface LockOptions {
  /** A lock whose heartbeat is older than this is considered abandoned (a stalled or dead writer). */
  staleMs: number;
  /** How long acquire() waits for another writer before WriterLockTimeoutError. */
  timeoutMs: number;
  logger: Logger;
}

function parseOwner(text: string): Owner | null {
  try {
    const value = JSON.parse(text) as Partial<Owner>;
    if (typeof value.pid === 'number' && typeof value.nonce === 'string' && typeof value.hostTag === 'string')
      return value as Owner;
  } catch {
    // fall through
  }
  return null;
}

/**
 * The single-writer lock on a data directory, safe across processes and containers sharing a volume.
 *
 * The lock is the directory `writer.lock` holding `owner.json`. A candidate builds that directory under
 * tmp/ and renames it into place: rename onto an existing non-empty directory fails, so exactly one
 * candidate wins and the owner record is never missing or half written. The holder touches owner.json
 * every staleMs / 4; waiters break a lock whose heartbeat is older than staleMs, or at once when its
 * owner is a dead process of this host (a killed writer need not be waited out).
 *
 * Breaking a lock can race with its owner waking up, so the lock alone is not trusted with the commit:
 * each acquisition also takes a fencing token (fence/<n>, created exclusively, strictly increasing), and
 * the writer re-checks just before switching the pointer that no newer token exists (see snapshot-writer.ts).
 */
export class WriterLock {
  private heartbeat: NodeJS.Timeout | null = null;
  private lost = false;
  private released = false;

  private fenceToken = 0;

  private constructor(
    private readonly dataDir: string,
    private readonly nonce: string,
    private readonly options: LockOptions,
  ) {}

  /** This acquisition's fencing token (0 until takeFence()). */
  get token(): number {
    return this.fenceToken;
  }

  /** Takes the next fencing token; every token ever taken is larger than all before it. */
  async takeFence(): Promise<number> {
    this.fenceToken = await allocateFence(this.dataDir);
    return this.fenceToken;
  }

  static async acquire(dataDir: string, options: LockOptions): Promise<WriterLock> {
    const started = Date.now();
    const lockDir = path.join(dataDir, LOCK_DIR);
    const nonce = `${process.pid}-${Math.random().toString(36).slice(2, 12)}`;
    const owner: Owner = {
      pid: process.pid,
      hostTag: HOST_TAG,
      hostname: os.hostname(),
      nonce,
      acquiredAt: new Date().toISOString(),
    };
    let waitMs = 5;
    for (let attempt = 0; ; attempt++) {
      const candidate = path.join(dataDir, TMP_DIR, tempName('lock'));
      try {
        await fsp.mkdir(candidate, { recursive: true });
        await fsp.writeFile(path.join(candidate, OWNER_FILE), JSON.stringify(owner));
        await fsp.rename(candidate, lockDir);
        const lock = new WriterLock(dataDir, nonce, options);
        lock.startHeartbeat();
        return lock;
      } catch (err) {
        await removeTree(candidate);
        // EEXIST / ENOTEMPTY: held by someone else. ENOENT: our candidate was swept by a GC; try again.
        if (!isErrno(err, 'EEXIST', 'ENOTEMPTY', 'ENOENT')) throw err;
      }
      if (await breakIfAbandoned(dataDir, options)) continue;
      if (Date.now() - started > options.timeoutMs)
        throw new WriterLockTimeoutError(dataDir, Date.now() - started);
      await sleep(waitMs + Math.random() * waitMs);
      waitMs = Math.min(100, waitMs * 2);
      if (attempt > 1_000_000) throw new WriterLockTimeoutError(dataDir, Date.now() - started);
    }
  }

  /** False once the heartbeat found the lock gone or taken over. */
  get held(): boolean {
    return !this.lost && !this.released;
  }

  /** Re-reads the owner record: the lock is still ours and the heartbeat never failed. */
  async stillOwned(): Promise<boolean> {
    if (!this.held) return false;
    const owner = await readOwner(path.join(this.dataDir, LOCK_DIR));
    if (owner?.nonce !== this.nonce) this.lost = true;
    return this.held;
  }

  /** No writer has taken a newer fencing token since this one. */
  async fenceIsNewest(): Promise<boolean> {
    return this.fenceToken > 0 && (await newestFence(this.dataDir)) === this.fenceToken;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.stopHeartbeat();
    const stillOurs = await this.stillOwned();
    this.released = true;
    if (!stillOurs) return;
    // Move it aside before deleting, so nobody ever sees a half-removed lock directory.
    const aside = path.join(this.dataDir, TMP_DIR, tempName('trash'));
    try {
      await fsp.rename(path.join(this.dataDir, LOCK_DIR), aside);
      await removeTree(aside);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  private startHeartbeat(): void {
    const file = path.join(this.dataDir, LOCK_DIR, OWNER_FILE);
    const beat = async (): Promise<void> => {
      if (!this.held) return;
      try {
        if (!(await this.stillOwned())) {
          this.options.logger.warn(
            { dataDir: this.dataDir, token: this.token },
            'writer lock was taken over',
          );
          this.stopHeartbeat();
          return;
        }
        const now = new Date();
        await fsp.utimes(file, now, now);
      } catch (err) {
        this.lost = true;
        this.stopHeartbeat();
        this.options.logger.warn({ err, dataDir: this.dataDir }, 'writer lock heartbeat failed');
      }
    };
    this.heartbeat = setInterval(() => void beat(), Math.max(50, Math.floor(this.options.staleMs / 4)));
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

async function readOwner(lockDir: string): Promise<Owner | null> {
  try {
    return parseOwner(await fsp.readFile(path.join(lockDir, OWNER_FILE), 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

/** Breaks the lock when its owner is a dead process of this host or its heartbeat is stale. */
async function breakIfAbandoned(dataDir: string, options: LockOptions): Promise<boolean> {
  const lockDir = path.join(dataDir, LOCK_DIR);
  let mtimeMs: number;
  let owner: Owner | null;
  try {
    owner = await readOwner(lockDir);
    mtimeMs = (await fsp.stat(owner ? path.join(lockDir, OWNER_FILE) : lockDir)).mtimeMs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true; // released meanwhile: try again at once
    throw err;
  }
  const dead =
    owner !== null && owner.hostTag === HOST_TAG && owner.pid !== process.pid && !processAlive(owner.pid);
  const stale = Date.now() - mtimeMs > options.staleMs;
  if (!dead && !stale) return false;
  const aside = path.join(dataDir, TMP_DIR, tempName('trash'));
  try {
    await fsp.mkdir(path.join(dataDir, TMP_DIR), { recursive: true });
    await fsp.rename(lockDir, aside);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    throw err;
  }
  const moved = await readOwner(aside);
  if (moved?.nonce !== owner?.nonce) {
    // A new owner took the lock between our look and the rename: put it back if the slot is still free.
    // If it is not, that owner finds its lock gone at its next check and its publish is fenced off.
    await fsp.rename(aside, lockDir).catch(() => undefined);
    return true;
  }
  options.logger.warn(
    {
      dataDir,
      owner,
      reason: dead ? 'owner process is gone' : `no heartbeat for ${Date.now() - mtimeMs} ms`,
    },
    'breaking abandoned writer lock',
  );
  await removeTree(aside);
  return true;
}

function fenceName(token: number): string {
  return String(token).padStart(FENCE_DIGITS, '0');
}

async function listFences(dataDir: string): Promise<number[]> {
  const dir = path.join(dataDir, FENCE_DIR);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return names.filter((name) => /^\d{16}$/.test(name)).map(Number);
}

async function newestFence(dataDir: string): Promise<number> {
  return Math.max(0, ...(await listFences(dataDir)));
}

/** Takes the next fencing token: fence/<n+1> created exclusively, so no two acquisitions share one. */
async function allocateFence(dataDir: string): Promise<number> {
  const dir = path.join(dataDir, FENCE_DIR);
  await fsp.mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < 1000; attempt++) {
    const existing = await listFences(dataDir);
    const token = Math.max(0, ...existing) + 1;
    try {
      await fsp.writeFile(path.join(dir, fenceName(token)), `${process.pid}\n`, { flag: 'wx' });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) continue;
      throw err;
    }
    await fsyncDir(dir);
    // Keep the newest tokens only; the newest one is all a check needs.
    const old = existing.sort((a, b) => b - a).slice(FENCES_KEPT);
    await Promise.all(old.map((t) => fsp.rm(path.join(dir, fenceName(t)), { force: true })));
    return token;
  }
  throw new Error('could not allocate a fencing token');
}
