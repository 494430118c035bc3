import { LookalikeError } from '@lookalike/config';

/** What the embedder test files share. */

/** The single-file default of these tests (the registry default is an ensemble). */
export const DEFAULT_MODEL = 'mobilenetv2-12-int8';

export function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

export async function expectCode(promise: Promise<unknown>, code: string): Promise<LookalikeError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, got a vector`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LookalikeError);
  expect((err as LookalikeError).code).toBe(code);
  return err as LookalikeError;
}
