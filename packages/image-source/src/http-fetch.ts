import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { AddressPolicy, normaliseHostname } from './address-policy';
import { ImageSourceError } from './errors';

export interface ResolvedAddress {
  address: string;
  family: number;
}
/** DNS adapter: every address a host name resolves to (tests inject fixed answers). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = (hostname) => lookup(hostname, { all: true });

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** 4xx statuses that say "not now" rather than "never". */
const TRANSIENT_CLIENT_STATUSES = new Set([408, 425, 429]);
const ACCEPTED_NON_IMAGE_TYPES = new Set(['application/octet-stream', 'binary/octet-stream']);
const TIMEOUT_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);
const PERMANENT_NETWORK_CODES = new Set([
  'ENOTFOUND',
  'ENODATA',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface HttpFetcherOptions {
  policy: AddressPolicy;
  resolver: HostResolver;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  /** PEM certificates trusted in addition to Node's bundled roots (an intranet CA). */
  extraCaCertificates?: string[];
}

/**
 * GETs images over HTTP(S) with the SSRF guard applied at connection time: the undici agent's
 * connector resolves the host itself, refuses the connection when any resolved address is blocked,
 * and then dials exactly the address it checked (so DNS rebinding between check and connect is not
 * possible). Redirects are followed by hand so each hop is re-validated the same way.
 */
export class HttpFetcher {
  private readonly agent: Agent;

  constructor(private readonly options: HttpFetcherOptions) {
    const extraCa = options.extraCaCertificates ?? [];
    const dial = buildConnector({
      timeout: Math.min(options.timeoutMs, 10_000),
      // Node's `ca` replaces the default roots, so they are listed along with the extra ones.
      ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}),
    });
    const guardedConnect: buildConnector.connector = (connectOptions, callback) => {
      this.resolveAllowed(connectOptions.hostname).then(
        (address) => dial({ ...connectOptions, hostname: address }, callback),
        (err: Error) => callback(err, null),
      );
    };
    this.agent = new Agent({
      connect: guardedConnect,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 32,
    });
  }

  /** The address to dial for a host, after the guard has accepted every address it resolves to. */
  private async resolveAllowed(rawHostname: string): Promise<string> {
    const { policy, resolver } = this.options;
    const host = normaliseHostname(rawHostname);
    policy.assertHostAllowed(host);
    if (isIP(host) !== 0) return host;
    let addresses: ResolvedAddress[];
    try {
      addresses = await resolver(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EDNS';
      throw new ImageSourceError('SOURCE_NETWORK_ERROR', `Could not resolve ${host}: ${code}`, {
        permanent: PERMANENT_NETWORK_CODES.has(code),
        cause: err,
        details: { host, code },
      });
    }
    const first = addresses[0];
    if (first === undefined) {
      throw new ImageSourceError('SOURCE_NETWORK_ERROR', `Could not resolve ${host}: no addresses`, {
        details: { host, code: 'ENODATA' },
      });
    }
    // Every answer is checked, not just the one dialled: a resolver mixing a public and a private
    // answer is treated as hostile.
    if (!policy.isHostAllowlisted(host)) {
      for (const { address } of addresses) policy.assertAddressAllowed(host, address);
    }
    return first.address;
  }

  async fetch(rawUrl: string, callerSignal?: AbortSignal): Promise<Buffer> {
    const { timeoutMs, maxRedirects } = this.options;
    let url = parseHttpUrl(rawUrl);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    try {
      for (let redirectsFollowed = 0; ; redirectsFollowed++) {
        const response = await this.get(url, signal);
        if (!REDIRECT_STATUSES.has(response.statusCode)) return await this.readImage(url, response);
        discard(response.body);
        const location = headerValue(response.headers, 'location');
        if (location === undefined) {
          throw new ImageSourceError('SOURCE_HTTP_ERROR', `HTTP ${response.statusCode} without Location`, {
            details: { status: response.statusCode, url: url.href },
          });
        }
        if (redirectsFollowed >= maxRedirects) {
          throw new ImageSourceError('SOURCE_TOO_MANY_REDIRECTS', `More than ${maxRedirects} redirects`, {
            details: { maxRedirects, url: url.href },
          });
        }
        url = parseHttpUrl(location, url);
      }
    } catch (err) {
      if (err instanceof ImageSourceError) throw err;
      if (callerSignal?.aborted) throw callerSignal.reason;
      if (deadline.signal.aborted) {
        throw new ImageSourceError(
          'SOURCE_TIMEOUT',
          `Fetching ${url.href} took longer than ${timeoutMs} ms`,
          {
            permanent: false,
            cause: err,
            details: { url: url.href, timeoutMs },
          },
        );
      }
      throw classifyNetworkError(err, url);
    } finally {
      clearTimeout(timer);
    }
  }

  private get(url: URL, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    this.options.policy.assertHostAllowed(url.hostname);
    return request(url, {
      method: 'GET',
      dispatcher: this.agent,
      signal,
      headers: {
        accept: 'image/*,application/octet-stream;q=0.5',
        'accept-encoding': 'identity',
        'user-agent': this.options.userAgent,
      },
    });
  }

  private async readImage(url: URL, response: Dispatcher.ResponseData): Promise<Buffer> {
    const { maxBytes } = this.options;
    const { statusCode, headers, body } = response;
    if (statusCode < 200 || statusCode > 299) {
      discard(body);
      const permanent = statusCode < 500 && !TRANSIENT_CLIENT_STATUSES.has(statusCode);
      throw new ImageSourceError('SOURCE_HTTP_ERROR', `HTTP ${statusCode} from ${url.href}`, {
        permanent,
        details: { status: statusCode, url: url.href },
      });
    }
    const contentType = headerValue(headers, 'content-type');
    const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
    if (mediaType !== undefined && mediaType !== '' && !isAcceptedMediaType(mediaType)) {
      discard(body);
      throw new ImageSourceError('SOURCE_BAD_CONTENT_TYPE', `Not an image: Content-Type ${mediaType}`, {
        details: { contentType, url: url.href },
      });
    }
    const declaredLength = Number(headerValue(headers, 'content-length'));
    if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
      discard(body);
      throw tooLarge(maxBytes, url, declaredLength);
    }
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > maxBytes) {
        discard(body);
        throw tooLarge(maxBytes, url);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, received);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/**
 * Drops a response body we will not read. Destroying an undici body emits 'error' (aborted); without
 * a listener that would crash the process.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function isAcceptedMediaType(mediaType: string): boolean {
  return mediaType.startsWith('image/') || ACCEPTED_NON_IMAGE_TYPES.has(mediaType);
}

function tooLarge(maxBytes: number, url: URL, declared?: number): ImageSourceError {
  const size = declared === undefined ? 'more than' : `${declared} bytes, more than`;
  return new ImageSourceError('SOURCE_TOO_LARGE', `Image at ${url.href} is ${size} ${maxBytes} bytes`, {
    details: { maxBytes, url: url.href, ...(declared === undefined ? {} : { contentLength: declared }) },
  });
}

function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Absolute http(s) URLs only; no credentials (they would be sent to whatever the URL points at). */
export function parseHttpUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch (err) {
    throw new ImageSourceError('SOURCE_BAD_URL', `Not a valid URL: ${truncate(raw)}`, { cause: err });
  }
  const via = base === undefined ? '' : ` (redirect from ${base.href})`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ImageSourceError(
      'SOURCE_BAD_URL',
      `Only http and https URLs are fetched, not ${url.protocol}${via}`,
      {
        details: { url: truncate(raw) },
      },
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ImageSourceError('SOURCE_BAD_URL', `URLs with credentials are not fetched${via}`);
  }
  if (url.hostname === '') throw new ImageSourceError('SOURCE_BAD_URL', `URL has no host${via}`);
  url.hash = '';
  return url;
}

function truncate(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The error and its causes, outermost first. Duck-typed rather than `instanceof Error`: errors from
 * Node's core (sockets, TLS) may come from another realm (jest's sandbox, worker threads).
 */
function causeChain(err: unknown): Array<{ code?: unknown; message?: unknown; cause?: unknown }> {
  const chain: Array<{ code?: unknown; message?: unknown; cause?: unknown }> = [];
  for (let current = err; typeof current === 'object' && current !== null && chain.length < 5;) {
    const link = current as { code?: unknown; message?: unknown; cause?: unknown };
    chain.push(link);
    current = link.cause;
  }
  return chain;
}

/** The first errno / undici / TLS code along the cause chain. */
function errorCode(err: unknown): string | undefined {
  for (const link of causeChain(err)) if (typeof link.code === 'string') return link.code;
  return undefined;
}

/** Maps whatever undici or the socket threw onto a typed error; guard errors pass through. */
function classifyNetworkError(err: unknown, url: URL): ImageSourceError {
  for (const link of causeChain(err)) if (link instanceof ImageSourceError) return link;
  const code = errorCode(err) ?? 'UNKNOWN';
  const first = causeChain(err)[0];
  const message = typeof first?.message === 'string' ? first.message : String(err);
  if (TIMEOUT_ERROR_CODES.has(code)) {
    return new ImageSourceError('SOURCE_TIMEOUT', `Timed out fetching ${url.href} (${code})`, {
      permanent: false,
      cause: err,
      details: { url: url.href, code },
    });
  }
  return new ImageSourceError('SOURCE_NETWORK_ERROR', `Fetching ${url.href} failed: ${message} (${code})`, {
    permanent: PERMANENT_NETWORK_CODES.has(code),
    cause: err,
    details: { url: url.href, code },
  });
}
