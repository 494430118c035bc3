import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** The one place log format is decided: JSON lines to stdout, service name and pid on every line. */
export function createLogger(service: string, level: string, options: LoggerOptions = {}): Logger {
  return pino({ name: service, level, ...options });
}
