export { LookalikeError, isLookalikeError } from './errors';
export { ConfigError, parseEnv, envFields, commonEnvShape, type ConfigIssue, type Env } from './env';
export { createLogger, type Logger } from './logger';
/** The zod instance every service's config schema is built with (one copy, one set of error messages). */
export { z } from 'zod';
