export { LookalikeError, isLookalikeError } from './errors';
export { ConfigError, parseEnv, envFields, commonEnvShape, type ConfigIssue, type Env } from './env';
export { createLogger, type Logger } from './logger';
