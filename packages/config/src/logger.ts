import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * The one place log format is decided: JSON lines to stdout, service name and pid on every line.
 * Written synchronously: pino's default stdout stream buffers while a write is in flight, and a process
 * that exits right after logging (close-with-grace calls process.exit) lost its last lines — 'closed',
 * or the error it shut down for. A few log lines per request make the synchronous write cheap.
 */
export function createLogger(service: string, level: string, options: LoggerOptions = {}): Logger {
  return pino({ name: service, level, ...options }, pino.destination({ dest: 1, sync: true }));
}
