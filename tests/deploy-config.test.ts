/**
 * Deployment files must agree with the code: every variable compose or the Dockerfiles set is one the
 * service reads, the shared volumes land where the services look, the healthchecks probe the port the
 * service listens on, and each `.env.example` documents exactly what its `loadConfig` reads.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { API_ENV_KEYS } from '../services/api/src/config';
import { INDEXER_ENV_KEYS } from '../services/indexer/src/config';
import { repoRoot } from './support';

const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), 'utf8');

interface ComposeService {
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  build?: { dockerfile: string; target: string };
  ports?: string[];
}
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};

/** Variables a `.env`-style file assigns, comments and blank lines skipped. */
function envFileKeys(file: string): string[] {
  return read(file)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.slice(0, line.indexOf('=')));
}

/** `${VAR}` / `${VAR:-default}` references in every string of a parsed YAML tree. */
function substitutions(node: unknown, found = new Set<string>()): Set<string> {
  if (typeof node === 'string') for (const m of node.matchAll(/\$\{([A-Z0-9_]+)/g)) found.add(m[1]!);
  else if (Array.isArray(node)) node.forEach((n) => substitutions(n, found));
  else if (node && typeof node === 'object') Object.values(node).forEach((n) => substitutions(n, found));
  return found;
}

interface DockerStage {
  name: string;
  from: string;
  env: Record<string, string>;
  expose: string[];
  healthcheck: string;
  cmd: string;
}

/** The Dockerfile's stages with their ENV, EXPOSE, HEALTHCHECK and CMD (continuation lines joined). */
function dockerStages(file: string): Map<string, DockerStage> {
  const lines = read(file)
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = new Map<string, DockerStage>();
  let stage: DockerStage | undefined;
  for (const line of lines) {
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instruction.toUpperCase()) {
      case 'FROM': {
        const m = /^(\S+)\s+AS\s+(\S+)$/i.exec(args);
        if (!m) throw new Error(`unnamed stage: ${line}`);
        const parent = stages.get(m[1]!);
        stage = {
          name: m[2]!,
          from: m[1]!,
          env: { ...parent?.env },
          expose: [...(parent?.expose ?? [])],
          healthcheck: '',
          cmd: '',
        };
        stages.set(stage.name, stage);
        break;
      }
      case 'ENV':
        for (const m of args.matchAll(/([A-Z0-9_]+)=(\S*)/g)) stage!.env[m[1]!] = m[2]!;
        break;
      case 'EXPOSE':
        stage!.expose.push(...args.split(/\s+/));
        break;
      case 'HEALTHCHECK':
        stage!.healthcheck = args;
        break;
      case 'CMD':
        stage!.cmd = args;
        break;
    }
  }
  return stages;
}

const services = [
  { name: 'api', keys: API_ENV_KEYS, portVar: 'PORT', main: 'services/api/src/server.ts' },
  { name: 'indexer', keys: INDEXER_ENV_KEYS, portVar: 'METRICS_PORT', main: 'services/indexer/src/main.ts' },
] as const;

/** Set by the image itself, not read through loadConfig. */
const RUNTIME_ONLY = new Set(['NODE_ENV']);

describe.each(services)('$name deployment', ({ name, keys, portVar, main }) => {
  const service = compose.services[name];
  const stage = dockerStages('docker/Dockerfile').get(name);

  it('exists in compose and as a Dockerfile target', () => {
    expect(service?.build).toEqual({ context: '.', dockerfile: 'docker/Dockerfile', target: name });
    expect(stage).toBeDefined();
  });

  it('compose sets only variables the service reads', () => {
    const unknown = Object.keys(service?.environment ?? {}).filter((k) => !keys.includes(k));
    expect(unknown).toEqual([]);
  });

  it('the image sets only variables the service reads', () => {
    const unknown = Object.keys(stage!.env).filter((k) => !keys.includes(k) && !RUNTIME_ONLY.has(k));
    expect(unknown).toEqual([]);
  });

  it('the healthcheck probes the port the service listens on, and the image exposes it', () => {
    expect(stage!.healthcheck).toContain(`process.env.${portVar}`);
    const port = String(service?.environment?.[portVar] ?? stage!.env[portVar]);
    expect(port).toMatch(/^\d+$/);
    expect(stage!.env[portVar]).toBe(port);
    expect(stage!.expose).toContain(port);
    expect(stage!.healthcheck).toContain(`||${port})`);
  });

  it('the image runs the built entry point of the service', () => {
    const js = main.replace('/src/', '/dist/').replace(/\.ts$/, '.js');
    expect(stage!.cmd).toBe(`["node", "${js}"]`);
    expect(fs.existsSync(path.join(repoRoot, main))).toBe(true);
  });

  it('snapshots, models and catalogue land where the service looks', () => {
    const env = { ...stage!.env, ...service?.environment } as Record<string, unknown>;
    const mounts = new Map(
      (service?.volumes ?? []).map((v) => {
        // source:target[:mode], where the source may itself hold `${VAR:-default}`.
        const m = /^(.*):(\/[^:]*?)(?::(?:ro|rw))?$/.exec(v);
        return [m?.[2] ?? '', m?.[1] ?? ''];
      }),
    );
    expect(mounts.get(String(env.DATA_DIR))).toBe('snapshots');
    expect(mounts.get(String(env.MODEL_CACHE_DIR))).toBe('models');
    expect(mounts.has(String(env.CATALOGUE_ROOT))).toBe(true);
    expect(service?.volumes?.find((v) => v.includes(`:${String(env.CATALOGUE_ROOT)}`))).toMatch(/:ro$/);
  });

  it(`services/${name}/.env.example documents exactly the variables loadConfig reads`, () => {
    expect([...envFileKeys(`services/${name}/.env.example`)].sort()).toEqual([...keys].sort());
  });
});

describe('compose', () => {
  it('api and indexer share the same queue, Redis and snapshot volume', () => {
    const api = compose.services.api!.environment!;
    const indexer = compose.services.indexer!.environment!;
    for (const key of ['REDIS_URL', 'QUEUE_PREFIX', 'DATA_DIR', 'MODEL', 'MODEL_MIRROR']) {
      expect([key, api[key]]).toEqual([key, indexer[key]]);
    }
    expect(String(api.REDIS_URL)).toBe('redis://redis:6379');
  });

  it('every ${VAR} compose substitutes is documented in .env.example, and nothing else is', () => {
    const used = [...substitutions(compose)].sort();
    expect(used.length).toBeGreaterThan(5);
    expect([...envFileKeys('.env.example')].sort()).toEqual(used);
  });

  it('redis persists with AOF and has a healthcheck the others wait for', () => {
    const redis = compose.services.redis as ComposeService & {
      command: string[];
      healthcheck: { test: string[] };
    };
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(redis.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
    for (const name of ['api', 'indexer']) {
      const svc = compose.services[name] as ComposeService & { depends_on: Record<string, unknown> };
      expect(svc.depends_on.redis).toEqual({ condition: 'service_healthy' });
    }
  });

  // Debian's docker-compose validates the file without an engine; scripts/setup.sh installs it.
  const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) =>
    fs.existsSync(p),
  );
  (dockerCompose || process.env.CI ? it : it.skip)('passes `docker-compose config`', () => {
    expect(dockerCompose).toBeDefined();
    const out = execFileSync(dockerCompose!, ['-f', 'docker-compose.yml', 'config', '--quiet'], {
      cwd: repoRoot,
      env: { ...process.env, INDEXER_REPLICAS: '2' },
      encoding: 'utf8',
    });
    expect(out).toBe('');
  });
});
