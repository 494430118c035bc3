/**
 * Route tests over fakes (snapshot, queue, embedder) and the real ImageSource, over real HTTP: a
 * fresh app per test, every response validated against the committed openapi/openapi.json. The
 * per-resource suites beside this file register their tests on one harness (test/routes.test.ts),
 * so the contract coverage of all of them is checked at the end.
 */
import {
  ContractChecker,
  FakeSnapshot,
  buildTestApp,
  fakeVector,
  solidPng,
  type HttpResponse,
  type RequestOptions,
  type TestApp,
} from '../helpers';

export interface RoutesOverFakes {
  readonly contract: ContractChecker;
  /** The app of the running test. */
  readonly t: TestApp;
  readonly red: Buffer;
  readonly green: Buffer;
  readonly blue: Buffer;
  /** A request to a documented route; the response is checked against the document. */
  call(t: TestApp, template: string, options: RequestOptions & { url: string }): Promise<HttpResponse>;
  json(response: HttpResponse): Record<string, unknown>;
  /** Three items (red-shirt, green-shirt, blue-shoe) as snapshot `version`. */
  loadCatalogue(version?: number): void;
}

/** Registers the hooks (images once, an app per test) and returns the harness the suites use. */
export function routesOverFakes(): RoutesOverFakes {
  const contract = new ContractChecker();
  let t: TestApp | undefined;
  let images: { red: Buffer; green: Buffer; blue: Buffer } | undefined;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} used outside a test`);
    return value;
  };

  beforeAll(async () => {
    const [red, green, blue] = await Promise.all([
      solidPng([220, 20, 20]),
      solidPng([20, 200, 20]),
      solidPng([20, 20, 220]),
    ]);
    images = { red, green, blue };
  });

  beforeEach(async () => {
    t = await buildTestApp();
  });

  afterEach(async () => {
    await t?.app.close();
    t = undefined;
  });

  const harness: RoutesOverFakes = {
    contract,
    get t() {
      return need(t, 'the app');
    },
    get red() {
      return need(images, 'the images').red;
    },
    get green() {
      return need(images, 'the images').green;
    },
    get blue() {
      return need(images, 'the images').blue;
    },
    async call(app, template, options) {
      const response = await app.request(options.url, options);
      contract.check(options.method ?? 'GET', template, response);
      return response;
    },
    json: (response) => response.json(),
    loadCatalogue(version = 1) {
      const { red, green, blue } = need(images, 'the images');
      harness.t.snapshots.swap(
        new FakeSnapshot(version, [
          {
            id: 'red-shirt',
            vector: fakeVector(red),
            metadata: { colour: 'red', kind: 'shirt', year: 2012 },
          },
          {
            id: 'green-shirt',
            vector: fakeVector(green),
            metadata: { colour: 'green', kind: 'shirt', year: 2013 },
          },
          {
            id: 'blue-shoe',
            vector: fakeVector(blue),
            metadata: { colour: 'blue', kind: 'shoe', year: 2012 },
          },
        ]),
      );
    },
  };
  return harness;
}
