/**
 * The client's own logic, against a stand-in fetch that records each Request: the multipart form
 * of searchByUpload, the bearer key, and problem documents surfaced as typed errors. The client
 * against the real API process is tests/typed-client.test.ts.
 */
import {
  LookalikeApiError,
  createLookalikeClient,
  cropField,
  isProblem,
  unwrap,
  type Problem,
} from '@lookalike/client';

function recorder(answer: () => Response) {
  const requests: Request[] = [];
  const fetch = async (request: Request) => {
    requests.push(request);
    return answer();
  };
  return { requests, fetch };
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });

const similar = {
  indexVersion: 3,
  model: 'm',
  results: [{ id: 'a', score: 0.9, similarity: 0.9, metadata: {} }],
};
const notFound: Problem = {
  type: 'urn:lookalike:problem:item-not-found',
  title: 'Not Found',
  status: 404,
  code: 'ITEM_NOT_FOUND',
  detail: 'No item with id "x" in the index',
};

describe('createLookalikeClient', () => {
  it('sends an upload as multipart: the file as "image", the options as text fields, the key as a bearer', async () => {
    const { requests, fetch } = recorder(() => json(200, similar));
    const client = createLookalikeClient({ baseUrl: 'http://api.test/', apiKey: 'k-123', fetch });
    const image = Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]);

    const result = await client.searchByUpload(image, { k: 5, filter: 'gender:Men', minScore: 0.25 });

    expect(result.data).toEqual(similar);
    expect(requests).toHaveLength(1);
    const request = requests[0] as Request;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('http://api.test/v1/similar');
    expect(request.headers.get('authorization')).toBe('Bearer k-123');
    expect(request.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
    const form = await request.formData();
    expect(form.get('k')).toBe('5');
    expect(form.get('filter')).toBe('gender:Men');
    expect(form.get('minScore')).toBe('0.25');
    expect(form.has('collapse')).toBe(false);
    const file = form.get('image');
    expect(file).toBeInstanceOf(Blob);
    expect(Buffer.from(await (file as Blob).arrayBuffer())).toEqual(image);
  });

  it('sends a crop box as the form field "x,y,w,h" in plain decimals, and a crop string as given', async () => {
    const { requests, fetch } = recorder(() => json(200, similar));
    const client = createLookalikeClient({ baseUrl: 'http://api.test', fetch });
    await client.searchByUpload(new Blob([new Uint8Array([1, 2, 3])]), {
      crop: { x: 0, y: 1e-7, w: 0.5, h: 1 },
    });
    await client.searchByUpload(new Uint8Array([1]), { crop: '0.25,0,0.5,0.75' });
    const [first, second] = await Promise.all(requests.map((request) => request.formData()));
    expect(first?.get('crop')).toBe('0,0.0000001,0.5,1');
    expect(second?.get('crop')).toBe('0.25,0,0.5,0.75');
    expect(cropField({ x: 0.1, y: 0.2, w: 0.3, h: 0.4 })).toBe('0.1,0.2,0.3,0.4');
  });

  it('sends no authorization header without an apiKey', async () => {
    const { requests, fetch } = recorder(() => json(200, similar));
    const client = createLookalikeClient({ baseUrl: 'http://api.test', fetch });
    await client.GET('/v1/items/{id}/similar', { params: { path: { id: 'a b' }, query: { k: 3 } } });
    const request = requests[0] as Request;
    expect(request.url).toBe('http://api.test/v1/items/a%20b/similar?k=3');
    expect(request.headers.has('authorization')).toBe(false);
  });

  it('surfaces a problem+json answer as the typed error, and unwrap throws it as LookalikeApiError', async () => {
    const { fetch } = recorder(() => json(404, notFound, 'application/problem+json'));
    const client = createLookalikeClient({ baseUrl: 'http://api.test', fetch });
    const result = await client.GET('/v1/items/{id}', { params: { path: { id: 'x' } } });
    expect(result.data).toBeUndefined();
    expect(result.error?.code).toBe('ITEM_NOT_FOUND');
    expect(isProblem(result.error)).toBe(true);

    const thrown = (() => {
      try {
        unwrap(result);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(LookalikeApiError);
    expect(thrown).toMatchObject({ status: 404, code: 'ITEM_NOT_FOUND', problem: notFound });
  });

  it('turns an error body that is not a problem document into UNEXPECTED_RESPONSE', async () => {
    const { fetch } = recorder(() => new Response('<html>bad gateway</html>', { status: 502 }));
    const client = createLookalikeClient({ baseUrl: 'http://api.test', fetch });
    const result = await client.GET('/v1/index');
    expect(() => unwrap(result)).toThrow(
      expect.objectContaining({ status: 502, code: 'UNEXPECTED_RESPONSE' }),
    );
  });
});
