import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pollUntil } from './poll';
import { freePort } from './ports';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A private redis-server for tests that must stop Redis (the shared one at 6379 is never touched).
 * Persistence is append-only with fsync on every write, as a durable deployment would run it, so
 * queued jobs survive a stop/start; the data lives in a temp dir removed by `destroy()`.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    /** AOF fsync policy: 'always' (default here) or 'everysec' (what docker-compose.yml runs). */
    readonly appendfsync: 'always' | 'everysec' = 'always',
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(options: { appendfsync?: 'always' | 'everysec' } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(
      await freePort(),
      mkdtempSync(path.join(os.tmpdir(), 'lookalike-redis-')),
      options.appendfsync,
    );
    await redis.start();
    return redis;
  }

  /** Starts (or restarts) the server on the same port and data dir, resolving once it answers PING. */
  async start(): Promise<void> {
    if (this.child) throw new Error('private redis already running');
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        this.appendfsync,
        '--dir',
        this.dir,
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    running.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        running.delete(child);
        resolve();
      }),
    );
    void this.exited.then(() => {
      if (this.child === child) this.child = null;
    });
    await pollUntil(
      async () => {
        const client = new Redis(this.url, {
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          retryStrategy: () => null,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      { timeoutMs: 10_000, intervalMs: 50, description: `redis-server on port ${this.port}` },
    );
  }

  /** SIGTERM: redis-server flushes the append-only file and exits, like `docker stop`. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** SIGKILL: no flush, no goodbye (a crash or an OOM kill); the AOF is what survives. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
