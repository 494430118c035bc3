import type { BadCase, BadInputEnv } from '../../bad-input/harness';

/** Malformed requests to the jobs routes and their documented problems (run by test/bad-input.test.ts). */
export async function jobsBadInputCases(_env: BadInputEnv): Promise<BadCase[]> {
  const cases: BadCase[] = [];
  const add = (c: BadCase) => cases.push(c);
  add({
    name: 'job id with bad characters',
    template: '/v1/jobs/{jobId}',
    path: '/v1/jobs/a%20b',
    request: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  });
  return cases;
}
