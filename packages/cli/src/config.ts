import { commonEnvShape, parseEnv, z, type Env } from '@lookalike/config';

const cliEnvSchema = z.object({ ...commonEnvShape });

export type CliConfig = z.infer<typeof cliEnvSchema>;

/** The CLI reads the same variables as the services, so `pnpm lookalike` acts on the same deployment. */
export function loadConfig(env: Env): CliConfig {
  return parseEnv(cliEnvSchema, env);
}
