import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from './paths';

/** One line a service wrote: its pino JSON fields, or `{ msg: <raw line> }` for non-JSON output. */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const MAX_KEPT_LINES = 100_000;
const live = new Set<ChildProcess>();

// Whatever happens to the test (failure, timeout, crash of the jest worker), no child outlives it.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Kills (SIGKILL) every process started through these helpers that is still running. */
export async function killAllProcesses(): Promise<void> {
  const waits = [...live].map(
    (child) =>
      new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null
          ? resolve()
          : child.once('exit', () => resolve()),
      ),
  );
  for (const child of live) child.kill('SIGKILL');
  await Promise.all(waits);
}

export class ServiceProcess {
  readonly logs: LogLine[] = [];
  readonly exited: Promise<ExitStatus>;
  private readonly raw: string[] = [];
  private readonly listeners = new Set<(line: LogLine) => void>();
  private exitStatus: ExitStatus | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    child.once('exit', () => live.delete(child));
    // 'close', not 'exit': only then has everything the process wrote to stdout/stderr been read, so a
    // test that awaits `exited` sees its last log lines.
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
    const onData = (stream: NodeJS.ReadableStream) => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          this.addLine(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        }
      });
      stream.on('end', () => pending && this.addLine(pending));
    };
    if (child.stdout) onData(child.stdout);
    if (child.stderr) onData(child.stderr);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  private addLine(text: string): void {
    if (text.trim() === '') return;
    let line: LogLine;
    try {
      const parsed: unknown = JSON.parse(text);
      line = typeof parsed === 'object' && parsed !== null ? (parsed as LogLine) : { msg: text };
    } catch {
      line = { msg: text };
    }
    if (this.logs.length < MAX_KEPT_LINES) this.logs.push(line);
    this.raw.push(text);
    if (this.raw.length > 400) this.raw.shift();
    for (const listener of this.listeners) listener(line);
  }

  /** The last lines written, for failure messages. */
  tail(lines = 60): string {
    return this.raw.slice(-lines).join('\n');
  }

  /** Resolves with the first line (already written or future) matching; rejects on timeout or exit. */
  waitForLog(
    predicate: (line: LogLine) => boolean,
    timeoutMs: number,
    description = 'log line',
  ): Promise<LogLine> {
    const existing = this.logs.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (line: LogLine) => {
        if (!predicate(line)) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no ${description} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.listeners.add(listener);
      void this.exited.then((status) => {
        if (!this.listeners.has(listener)) return;
        cleanup();
        reject(
          new Error(`${this.name} exited (${JSON.stringify(status)}) before ${description}\n${this.tail()}`),
        );
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 15_000): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** SIGKILL: no chance to clean up (crash simulation). */
  async kill(): Promise<ExitStatus> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

export interface StartOptions {
  name: string;
  /** Script relative to the repo root (e.g. services/indexer/dist/main.js). */
  script: string;
  args?: string[];
  /** Flags for node itself, before the script (e.g. `--trace-gc-nvp`). */
  nodeArgs?: string[];
  env: Record<string, string | undefined>;
  /** Wait for a log line with this `msg` (null: do not wait). */
  readyMsg?: string | null;
  readyTimeoutMs?: number;
}

/** Starts `node <script>` from the repo root with exactly `env` (plus PATH/HOME) and waits until ready. */
export async function startService(options: StartOptions): Promise<ServiceProcess> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  for (const [key, value] of Object.entries(options.env)) if (value !== undefined) env[key] = value;
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])],
    {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const service = new ServiceProcess(options.name, child);
  const readyMsg = options.readyMsg === undefined ? 'ready' : options.readyMsg;
  if (readyMsg !== null) {
    try {
      await service.waitForLog(
        (l) => l.msg === readyMsg,
        options.readyTimeoutMs ?? 60_000,
        `"${readyMsg}" line`,
      );
    } catch (err) {
      await service.kill();
      throw err;
    }
  }
  return service;
}

export interface CommandResult extends ExitStatus {
  stdout: string;
  stderr: string;
}

/** Runs `node <script> ...args` to completion (SIGKILL after `timeoutMs`) and collects its output. */
export function runNode(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs: number,
): Promise<CommandResult> {
  const fullEnv: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) fullEnv[key] = value;
  const child = spawn(process.execPath, [script, ...args], {
    cwd: repoRoot,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr
    .setEncoding('utf8')
    .on('data', (d: string) => (stderr += d.length > 200_000 ? d.slice(-200_000) : d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    // 'close' comes after 'exit' and after both output streams ended, so no output is lost.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
