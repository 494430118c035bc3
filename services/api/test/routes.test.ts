/**
 * Route behaviour over fakes, one suite per resource (test/routes/<resource>/), all on one harness:
 * every response is validated against the committed openapi/openapi.json, and the last test checks
 * that every documented operation was exercised.
 */
import { routesOverFakes } from './routes/harness';
import { eventsRouteTests } from './routes/events/events.routes';
import { indexRouteTests } from './routes/index/index.routes';
import { itemsRouteTests } from './routes/items/items.routes';
import { jobsRouteTests } from './routes/jobs/jobs.routes';
import { opsRouteTests } from './routes/ops/ops.routes';
import { recommendRouteTests } from './routes/recommend/recommend.routes';
import { similarRouteTests } from './routes/similar/similar.routes';

describe('routes over fakes', () => {
  const h = routesOverFakes();

  describe('ops', () => opsRouteTests(h));
  describe('index', () => indexRouteTests(h));
  describe('similar', () => similarRouteTests(h));
  describe('recommend', () => recommendRouteTests(h));
  describe('items', () => itemsRouteTests(h));
  describe('jobs', () => jobsRouteTests(h));
  describe('events', () => eventsRouteTests(h));

  // Last: the contract coverage of everything above (and of nothing else).
  test('contract: every documented operation was called and its responses validated', () => {
    const { contract } = h;
    const exercised = new Set([...contract.seen].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
    const missing = contract
      .operations()
      .map((op) => `${op.method} ${op.path}`)
      .filter((op) => !exercised.has(op));
    expect(missing).toEqual([]);
    expect(contract.seen.size).toBeGreaterThanOrEqual(15);
  });
});
