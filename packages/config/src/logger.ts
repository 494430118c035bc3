import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** The one place log format is decided: JSON lines to stdout, service name and pid on every line. */
export function createLogger(service: string, level: string, options: LoggerOptions = {}): Logger {
  return pino({ name: service, level, ...options });
}

/**
 * Writes out what the logger still buffers. Its stdout stream is asynchronous, and a process that
 * exits right after logging (close-with-grace calls process.exit) would otherwise lose its last lines:
 * 'closed', or the error it shut down for.
 */
export function flushLogger(logger: Pick<Logger, 'flush'>): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}
