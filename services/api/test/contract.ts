/**
 * The OpenAPI contract as a test oracle: responses checked against the committed openapi/openapi.json
 * (status, media type, body schema, documented headers). Used by the API unit tests and by the system
 * contract test in tests/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

export const OPENAPI_FILE = path.resolve(__dirname, '../../../openapi/openapi.json');

interface DocumentedResponse {
  content?: Record<string, unknown>;
  headers?: Record<string, { schema?: object; description?: string; required?: boolean; $ref?: string }>;
}

interface OpenApiDocument {
  components?: { headers?: Record<string, NonNullable<DocumentedResponse['headers']>[string]> };
  paths: Record<
    string,
    Record<string, { operationId?: string; responses: Record<string, DocumentedResponse> }>
  >;
}

const pointer = (...segments: string[]) =>
  segments.map((s) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');

export interface ContractResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** `GET /v1/items/{id}`: an operation of the document. */
export type OperationKey = string;

/**
 * Validates responses against the committed document: the status must be documented for the
 * operation (`default` covers 5xx only), the media type listed, the body valid for its schema, and
 * every header the response documents valid when sent, and sent when the document says it is
 * required (Location on 202, Retry-After on 429 and 503).
 */
export class ContractChecker {
  readonly document: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  /** `METHOD path status` of every validated response. */
  readonly seen = new Set<string>();

  constructor(file = OPENAPI_FILE) {
    this.document = JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
    this.ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    this.ajv.addSchema(this.document as object, 'openapi.json');
  }

  /** Every operation of the document, as `{ method: 'GET', path: '/v1/items/{id}' }`. */
  operations(): Array<{ method: string; path: string }> {
    return Object.entries(this.document.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path: p })),
    );
  }

  /**
   * The documented path template a concrete request path belongs to (`/v1/items/a/similar?k=2` →
   * `/v1/items/{id}/similar`), literal paths before templated ones; throws when none matches.
   */
  templateOf(method: string, url: string): string {
    const requestPath = url.split('?')[0] ?? url;
    const candidates = Object.keys(this.document.paths)
      .filter((template) => this.document.paths[template]?.[method.toLowerCase()])
      .filter((template) => {
        const source = template
          .split(/\{[^}]+\}/)
          .map((literal) => literal.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
          .join('[^/]+');
        return new RegExp(`^${source}$`).test(requestPath);
      })
      .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
    const template = candidates[0];
    if (!template) throw new Error(`${method} ${requestPath} is not an operation of the OpenAPI document`);
    return template;
  }

  private validator(schemaRef: string): ValidateFunction {
    let validate = this.validators.get(schemaRef);
    if (!validate) {
      validate = this.ajv.compile({ $ref: schemaRef });
      this.validators.set(schemaRef, validate);
    }
    return validate;
  }

  check(method: string, templatePath: string, response: ContractResponse): void {
    const operation = this.document.paths[templatePath]?.[method.toLowerCase()];
    if (!operation) throw new Error(`${method} ${templatePath} is not in the OpenAPI document`);
    const status = String(response.statusCode);
    // `default` stands in only for unexpected server errors; every other status must be listed.
    const key = operation.responses[status]
      ? status
      : response.statusCode >= 500 && operation.responses.default
        ? 'default'
        : null;
    if (!key) throw new Error(`${method} ${templatePath}: status ${status} is not documented`);
    const where = `${method} ${templatePath} ${status}`;
    const documented = operation.responses[key] as DocumentedResponse;
    const responsePointer = ['paths', templatePath, method.toLowerCase(), 'responses', key];

    for (const [name, documentedHeader] of Object.entries(documented.headers ?? {})) {
      // Shared headers (the rate-limit ones) are `$ref`s into components/headers.
      const componentName = documentedHeader.$ref?.replace('#/components/headers/', '');
      const header = componentName
        ? (this.document.components?.headers?.[componentName] ?? {})
        : documentedHeader;
      const headerPointer = componentName
        ? ['components', 'headers', componentName]
        : [...responsePointer, 'headers', name];
      const value = response.headers[name.toLowerCase()];
      // Required headers are sent on every such response (Location on 202, Retry-After on 429 and
      // 503); the others, such as the rate-limit headers (only while rate limiting is on), when sent.
      if (value === undefined) {
        if (header.required) throw new Error(`${where}: documented header ${name} is missing`);
        continue;
      }
      if (!header.schema) continue;
      const validate = this.validator(`openapi.json#/${pointer(...headerPointer, 'schema')}`);
      const schemaType = (header.schema as { type?: string }).type;
      const typed = schemaType === 'integer' || schemaType === 'number' ? Number(value) : value;
      if (!validate(typed)) {
        throw new Error(
          `${where}: header ${name}: ${value} is invalid: ${this.ajv.errorsText(validate.errors)}`,
        );
      }
    }

    const content = documented.content;
    const contentType = String(response.headers['content-type'] ?? '');
    if (!content) {
      if (response.body.length > 0) throw new Error(`${where}: undocumented body`);
      this.seen.add(where);
      return;
    }
    const mediaType = contentType.split(';')[0]?.trim() ?? '';
    if (!content[mediaType]) {
      throw new Error(
        `${where}: content-type ${contentType} not documented (${Object.keys(content).join(', ')})`,
      );
    }
    const validate = this.validator(
      `openapi.json#/${pointer(...responsePointer, 'content', mediaType, 'schema')}`,
    );
    let body: unknown = response.body;
    if (mediaType.endsWith('json')) {
      try {
        body = JSON.parse(response.body);
      } catch {
        throw new Error(`${where}: the ${mediaType} body is not JSON: ${response.body.slice(0, 200)}`);
      }
    }
    if (!validate(body)) {
      throw new Error(
        `${where}: body does not match the document: ` +
          `${this.ajv.errorsText(validate.errors)}\n${response.body.slice(0, 500)}`,
      );
    }
    this.seen.add(where);
  }

  /** The statuses validated so far for each operation of the document (none: not exercised). */
  coverage(): Map<OperationKey, number[]> {
    const coverage = new Map<OperationKey, number[]>(
      this.operations().map((op) => [`${op.method} ${op.path}`, [] as number[]]),
    );
    for (const entry of this.seen) {
      const [method, template, status] = entry.split(' ');
      coverage.get(`${method} ${template}`)?.push(Number(status));
    }
    for (const statuses of coverage.values()) statuses.sort((a, b) => a - b);
    return coverage;
  }
}
