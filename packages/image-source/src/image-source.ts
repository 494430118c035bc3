import { AddressPolicy } from './address-policy';
import { decodeBase64Image } from './base64';
import { readCatalogueFile } from './catalogue-file';
import { ImageSourceError } from './errors';
import { HttpFetcher, systemResolver, type HostResolver } from './http-fetch';
import { detectImageFormat } from './magic';

export type ImageRef = { imageUrl: string } | { imagePath: string } | { imageBase64: string };
export type ImageRefKind = 'imageUrl' | 'imagePath' | 'imageBase64';

const REF_KINDS: readonly ImageRefKind[] = ['imageUrl', 'imagePath', 'imageBase64'];

export interface ImageSourceOptions {
  /** imagePath is relative to it and cannot escape it. */
  catalogueRoot?: string;
  /** Cap on the image size, for every kind of ref. */
  maxBytes: number;
  /** Deadline for one URL load: connect, every redirect hop, headers and body together. */
  timeoutMs: number;
  /** Redirects followed before SOURCE_TOO_MANY_REDIRECTS (0: none). */
  maxRedirects: number;
  /** SSRF guard off (tests, trusted intranets). */
  allowPrivateNetworks?: boolean;
  /** Exceptions to the guard: host names, `*.suffix` wildcards, IP addresses or CIDR ranges. */
  allowedHosts?: string[];
  /** DNS adapter; defaults to the system resolver (dns.lookup). */
  resolveHost?: HostResolver;
  /** User-Agent header for URL fetches. */
  userAgent?: string;
  /** PEM CA certificates trusted for https in addition to Node's bundled roots. */
  extraCaCertificates?: string[];
}

/** Which of the three keys a ref uses; SOURCE_BAD_REF unless exactly one is a string. */
export function imageRefKind(ref: unknown): ImageRefKind {
  const present =
    typeof ref === 'object' && ref !== null
      ? REF_KINDS.filter((key) => (ref as Record<string, unknown>)[key] !== undefined)
      : [];
  const [kind] = present;
  if (present.length !== 1 || kind === undefined) {
    throw new ImageSourceError(
      'SOURCE_BAD_REF',
      `An image reference needs exactly one of ${REF_KINDS.join(', ')} (got ${present.length})`,
      { details: { present } },
    );
  }
  if (typeof (ref as Record<string, unknown>)[kind] !== 'string') {
    throw new ImageSourceError('SOURCE_BAD_REF', `${kind} must be a string`, { details: { present } });
  }
  return kind;
}

function positiveInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ImageSourceError('SOURCE_BAD_OPTIONS', `${name} must be an integer >= ${min}, got ${value}`);
  }
}

/**
 * Turns an ImageRef into image bytes: fetched over HTTP(S) behind the SSRF guard, read from the
 * catalogue root, or decoded from base64. Whatever the kind, the result is at most `maxBytes` and
 * starts with the magic bytes of a known image format. Failures are ImageSourceErrors whose
 * `permanent` flag says whether a retry could help.
 */
export class ImageSource {
  private readonly http: HttpFetcher;
  private readonly options: ImageSourceOptions;

  constructor(options: ImageSourceOptions) {
    positiveInteger('maxBytes', options.maxBytes, 1);
    positiveInteger('timeoutMs', options.timeoutMs, 1);
    positiveInteger('maxRedirects', options.maxRedirects, 0);
    this.options = { ...options };
    const policy = new AddressPolicy({
      allowPrivateNetworks: options.allowPrivateNetworks ?? false,
      allowedHosts: options.allowedHosts ?? [],
    });
    this.http = new HttpFetcher({
      policy,
      resolver: options.resolveHost ?? systemResolver,
      maxBytes: options.maxBytes,
      timeoutMs: options.timeoutMs,
      maxRedirects: options.maxRedirects,
      userAgent: options.userAgent ?? 'lookalike-image-source/0.1',
      ...(options.extraCaCertificates ? { extraCaCertificates: options.extraCaCertificates } : {}),
    });
  }

  async load(ref: ImageRef, signal?: AbortSignal): Promise<Buffer> {
    const kind = imageRefKind(ref);
    signal?.throwIfAborted();
    const value = (ref as Record<ImageRefKind, string>)[kind];
    const { maxBytes, catalogueRoot } = this.options;
    let bytes: Buffer;
    if (kind === 'imageUrl') bytes = await this.http.fetch(value, signal);
    else if (kind === 'imagePath') bytes = await readCatalogueFile(catalogueRoot, value, maxBytes);
    else bytes = decodeBase64Image(value, maxBytes);
    if (detectImageFormat(bytes) === null) {
      throw new ImageSourceError(
        'SOURCE_NOT_IMAGE',
        bytes.length === 0 ? 'The image is empty' : 'The bytes are not a known image format',
        { details: { kind, size: bytes.length } },
      );
    }
    return bytes;
  }

  /** Closes pooled HTTP connections. */
  close(): Promise<void> {
    return this.http.close();
  }
}
