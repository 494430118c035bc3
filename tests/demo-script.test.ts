/**
 * The README's first quick-start command, as a user runs it: `scripts/demo.sh --catalogue DIR` brings up
 * Redis (reused here), an indexer and the API, imports the catalogue, serves the demo page, and Ctrl-C
 * stops every process it started.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  deleteQueueKeys,
  fashionImagesDir,
  freePort,
  pollUntil,
  repoRoot,
  sampleCsv,
  sharedRedisUrl,
  tempDir,
  uniquePrefix,
} from './support';

jest.setTimeout(300_000);

const ROWS = 40;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('scripts/demo.sh imports a catalogue, serves the page, and Ctrl-C stops everything', async () => {
  const work = tempDir('demo-script');
  const prefix = uniquePrefix('demo');
  try {
    const catalogue = path.join(work.dir, 'shop');
    mkdirSync(path.join(catalogue, 'images'), { recursive: true });
    const { text, ids } = sampleCsv(ROWS);
    writeFileSync(path.join(catalogue, 'styles.csv'), text);
    for (const id of ids) {
      copyFileSync(path.join(fashionImagesDir, `${id}.jpg`), path.join(catalogue, 'images', `${id}.jpg`));
    }
    const port = await freePort();
    const script = spawn('bash', ['scripts/demo.sh', '--catalogue', catalogue], {
      cwd: repoRoot,
      // Its own process group, so the test can send Ctrl-C's SIGINT to the group as a terminal would.
      detached: true,
      env: {
        ...process.env,
        PORT: String(port),
        REDIS_URL: sharedRedisUrl,
        QUEUE_PREFIX: prefix,
        DATA_DIR: path.join(work.dir, 'data'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    script.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    script.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise<number | null>((resolve) => script.once('exit', (code) => resolve(code)));

    try {
      await pollUntil(() => output.includes('serving at'), {
        timeoutMs: 240_000,
        intervalMs: 250,
        description: 'the demo to import and serve',
      }).catch((err: Error) => {
        throw new Error(`${err.message}\n${output}`);
      });
      expect(output).toContain(`demo page: http://127.0.0.1:${port}/`);

      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      const index = await pollUntil(
        async () => {
          const body = (await (await fetch(`http://127.0.0.1:${port}/v1/index`)).json()) as { count: number };
          return body.count === ROWS ? body : undefined;
        },
        { timeoutMs: 30_000, description: `the API to serve ${ROWS} items` },
      );
      expect(index.count).toBe(ROWS);
    } finally {
      process.kill(-script.pid!, 'SIGINT');
    }
    expect(await exited).not.toBeNull();
    expect(output).toContain('[demo]');
    expect(output).toContain('stopping');
    // Nothing it started is left: the port is closed and no process of the group survives.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    await pollUntil(() => !processAlive(-script.pid!), {
      timeoutMs: 20_000,
      description: 'the process group to exit',
    });
  } finally {
    await deleteQueueKeys(sharedRedisUrl, prefix);
    work.remove();
  }
});
