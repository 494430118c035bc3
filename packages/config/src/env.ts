import { z } from 'zod';
import ms from 'ms';
import { LookalikeError } from './errors';

export type Env = Record<string, string | undefined>;

/** One entry per bad variable, so an operator fixes them all in one go. */
export interface ConfigIssue {
  key: string;
  message: string;
}

export class ConfigError extends LookalikeError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      'CONFIG_INVALID',
      `Invalid configuration:\n${issues.map((i) => `  - ${i.key}: ${i.message}`).join('\n')}`,
      { details: { issues } },
    );
    this.issues = issues;
  }
}

/**
 * Validates the environment against a zod object schema whose keys are variable names. Empty strings
 * count as unset (compose and .env files often write `KEY=`). Every problem is reported, not just the
 * first.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: Env): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        key: issue.path.join('.') || '(root)',
        message: issue.message,
      })),
    );
  }
  return result.data;
}

/** Reusable field parsers for environment strings. */
export const envFields = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(fallback),
  number: (fallback: number, min = -Infinity, max = Infinity) =>
    z.coerce.number().min(min).max(max).default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  /**
   * A duration as people write it (`500ms`, `30s`, `5m`, `2h`, `90d`), read by `ms`, as whole
   * milliseconds from 1 ms up to `maxMs` (default 24 h).
   */
  duration: (fallback: string, maxMs = 86_400_000) =>
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        // ms() answers undefined for text it cannot read, and throws on an empty string.
        const text = value.trim();
        const parsed = text === '' ? undefined : (ms(text as ms.StringValue) as number | undefined);
        if (parsed === undefined || !Number.isFinite(parsed)) {
          ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 30s, 1m or 2h' });
          return z.NEVER;
        }
        if (!Number.isInteger(parsed) || parsed < 1 || parsed > maxMs) {
          ctx.addIssue({
            code: 'custom',
            message: `expected a whole number of milliseconds between 1ms and ${ms(maxMs, { long: false })}`,
          });
          return z.NEVER;
        }
        return parsed;
      }),
  redisUrl: () =>
    z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .default('redis://127.0.0.1:6379'),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * An optional string read by a parser that throws on bad input (e.g. index-store's
   * parseSearchParameters); its message becomes this key's config issue.
   */
  parsed: <T>(parse: (value: string | undefined) => T) =>
    z
      .string()
      .optional()
      .transform((value, ctx) => {
        try {
          return parse(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
          return z.NEVER;
        }
      }),
};

/**
 * Variables both services (and the CLI) read with the same meaning. Documented in README and
 * .env.example; a test checks compose and the Dockerfiles against them.
 */
export const commonEnvShape = {
  REDIS_URL: envFields.redisUrl(),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('lookalike'),
  DATA_DIR: z.string().default('./.data'),
  MODEL: z.string().default('mobilenetv2-shufflenetv2-int8'),
  MODEL_CACHE_DIR: z.string().default('./.cache/models'),
  MODEL_MIRROR: z.string().optional(),
  LOG_LEVEL: envFields.logLevel(),
};
