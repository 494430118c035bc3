import type { Logger } from '@lookalike/config';

/**
 * Query parameters that carry credentials (compared case-insensitively, after percent-decoding the
 * name). The API refuses keys in the URL, but the refused request is still logged: its value must not be.
 * The signed-URL ones cover image URLs (presigned object-store links) quoted in error details.
 */
export const SECRET_QUERY_PARAMETERS: ReadonlySet<string> = new Set([
  'api_key',
  'apikey',
  'api-key',
  'access_token',
  'token',
  'key',
  'secret',
  'password',
  'auth',
  'authorization',
  'signature',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
]);

export const REDACTED = '[REDACTED]';

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/** `…?api_key=s3cret&k=5` → `…?api_key=[REDACTED]&k=5`, in a URL or in text quoting one. */
export function redactSecretsInText(text: string): string {
  return text.replace(/([?&;])([^=&;?#\s"']+)=([^&;#\s"']*)/g, (match, separator: string, name: string) =>
    SECRET_QUERY_PARAMETERS.has(decodedName(name)) ? `${separator}${name}=${REDACTED}` : match,
  );
}

/** Log fields that hold a URL or text quoting one: their secret query values are rewritten. */
const URL_FIELDS = ['req.url', 'url', 'detail', 'imageUrl', 'err.message'];
/** Log fields that are secrets as a whole. */
const SECRET_FIELDS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'authorization',
];
const URL_FIELD_NAMES = new Set(URL_FIELDS.map((path) => path.split('.').pop()));

/**
 * A child of `logger` that keeps credentials out of every line it (and Fastify's request loggers,
 * its children) writes: the Authorization header and cookies as a whole, secret query parameter
 * values inside URLs. Redaction runs after the serializers, so it sees Fastify's `req.url`.
 */
export function redactingLogger(logger: Logger): Logger {
  return logger.child(
    {},
    {
      redact: {
        paths: [...URL_FIELDS, ...SECRET_FIELDS],
        censor: (value: unknown, path: string[]) =>
          URL_FIELD_NAMES.has(path[path.length - 1]) && typeof value === 'string'
            ? redactSecretsInText(value)
            : REDACTED,
      },
    },
  );
}
