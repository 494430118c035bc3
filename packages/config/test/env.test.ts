import { ConfigError, commonEnvShape, envFields, LookalikeError, parseEnv, z } from '../src';

const schema = z.object({
  ...commonEnvShape,
  PORT: envFields.port(8080),
  WORKERS: envFields.int(2, 1, 64),
  STRICT: envFields.bool(false),
});

describe('parseEnv', () => {
  it('applies defaults for unset and empty variables', () => {
    const config = parseEnv(schema, { PORT: '', MODEL: '  ' });
    expect(config).toMatchObject({
      PORT: 8080,
      WORKERS: 2,
      STRICT: false,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'lookalike',
      DATA_DIR: './.data',
      MODEL: 'mobilenetv2-shufflenetv2-int8',
    });
    expect(config.MODEL_MIRROR).toBeUndefined();
  });

  it('coerces numbers and booleans', () => {
    expect(parseEnv(schema, { PORT: '9000', WORKERS: '4', STRICT: 'yes' })).toMatchObject({
      PORT: 9000,
      WORKERS: 4,
      STRICT: true,
    });
  });

  it('reports every bad variable at once, by name', () => {
    let caught: unknown;
    try {
      parseEnv(schema, {
        PORT: 'eighty',
        WORKERS: '0',
        STRICT: 'maybe',
        REDIS_URL: 'http://x',
        QUEUE_PREFIX: 'a b',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toBeInstanceOf(LookalikeError);
    const error = caught as ConfigError;
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues.map((i) => i.key).sort()).toEqual([
      'PORT',
      'QUEUE_PREFIX',
      'REDIS_URL',
      'STRICT',
      'WORKERS',
    ]);
    expect(error.message).toMatch(/REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/);
  });

  it('ignores variables the schema does not know', () => {
    expect(() => parseEnv(schema, { SOMETHING_ELSE: '1', PATH: '/bin' })).not.toThrow();
  });
});
