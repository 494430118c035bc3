/** The widget's three calls to the lookalike API: similar by item, similar by photo, a thumbnail. */
import type { Metadata } from './format';

export interface Hit {
  id: string;
  score: number;
  similarity: number;
  metadata: Metadata;
}

export interface Results {
  indexVersion: number | null;
  /** The list's id (`queryId` of the answer): the context of shopper events about it; null if absent. */
  queryId: string | null;
  results: Hit[];
}

/**
 * Why a search failed: `status` null when no answer came (API down, or the browser refused the
 * answer because the API does not allow this page's origin: CORS_ORIGINS); `code` is the API's
 * problem code (ITEM_NOT_FOUND, NO_SNAPSHOT, UNAUTHORIZED, …) or NETWORK / BAD_RESPONSE.
 */
export class WidgetError extends Error {
  constructor(
    readonly status: number | null,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WidgetError';
  }
}

export interface Endpoint {
  /** The API's base URL, ending in `/`. */
  base: string;
  apiKey: string | null;
}

function headers(endpoint: Endpoint): Record<string, string> {
  return endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {};
}

export function imageUrl(endpoint: Endpoint, id: string): string {
  return new URL(`v1/items/${encodeURIComponent(id)}/image`, endpoint.base).href;
}

async function send(url: string, init: RequestInit, endpoint: Endpoint): Promise<Response> {
  try {
    // No cookies: the API authenticates by key only, and credentials would need a stricter CORS setup.
    return await fetch(url, { ...init, headers: headers(endpoint), credentials: 'omit', mode: 'cors' });
  } catch (error) {
    if (init.signal?.aborted) throw error;
    // fetch rejects alike for a refused connection and a CORS refusal; the page cannot tell them apart.
    throw new WidgetError(null, 'NETWORK', `The API at ${endpoint.base} did not answer this page`);
  }
}

async function results(response: Response): Promise<Results> {
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const problem = (body ?? {}) as { code?: unknown; detail?: unknown };
    throw new WidgetError(
      response.status,
      typeof problem.code === 'string' ? problem.code : `HTTP_${response.status}`,
      typeof problem.detail === 'string' ? problem.detail : response.statusText,
    );
  }
  const answer = body as { results?: unknown; indexVersion?: unknown; queryId?: unknown } | null;
  if (!answer || !Array.isArray(answer.results)) {
    throw new WidgetError(
      response.status,
      'BAD_RESPONSE',
      'The API answered something that is not a result list',
    );
  }
  return {
    indexVersion: typeof answer.indexVersion === 'number' ? answer.indexVersion : null,
    queryId: typeof answer.queryId === 'string' ? answer.queryId : null,
    results: answer.results as Hit[],
  };
}

export interface SearchOptions {
  k: number;
  /** The API's filter syntax (`gender:Men,baseColour:Blue|Navy Blue`), passed through. */
  filter: string | null;
  signal: AbortSignal;
}

export async function similarToItem(
  endpoint: Endpoint,
  id: string,
  options: SearchOptions,
): Promise<Results> {
  const url = new URL(`v1/items/${encodeURIComponent(id)}/similar`, endpoint.base);
  url.searchParams.set('k', String(options.k));
  if (options.filter) url.searchParams.set('filter', options.filter);
  return results(await send(url.href, { signal: options.signal }, endpoint));
}

export async function similarToPhoto(
  endpoint: Endpoint,
  image: Blob,
  options: SearchOptions,
): Promise<Results> {
  const form = new FormData();
  form.set('k', String(options.k));
  if (options.filter) form.set('filter', options.filter);
  form.set('image', image, image instanceof File ? image.name : 'photo');
  const url = new URL('v1/similar', endpoint.base).href;
  return results(await send(url, { method: 'POST', body: form, signal: options.signal }, endpoint));
}

/**
 * A thumbnail as a `blob:` URL, for deployments that need the key on reads (an <img> cannot send an
 * Authorization header). Without a key the widget points <img src> at the API instead (lazy loading).
 */
export async function thumbnailBlobUrl(
  endpoint: Endpoint,
  id: string,
  signal: AbortSignal,
): Promise<string | null> {
  try {
    const response = await send(imageUrl(endpoint, id), { signal }, endpoint);
    return response.ok ? URL.createObjectURL(await response.blob()) : null;
  } catch {
    // Aborted (a newer search) or unreachable: the card keeps its empty image box, nothing throws.
    return null;
  }
}
