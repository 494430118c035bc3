import http from 'node:http';
import { ContractChecker, type ContractResponse } from '../../services/api/test/contract';
import { multipartBody } from '../../services/api/test/fixtures';
import type { Job, Problem, SimilarResponse } from '@lookalike/client';

export interface ApiRequest {
  method?: string;
  /** Sent as application/json. */
  json?: unknown;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export interface ApiReply extends ContractResponse {
  status: number;
  json<T = Record<string, unknown>>(): T;
}

/**
 * Real HTTP against a running API where every reply is checked against openapi/openapi.json: the
 * request must be a documented operation, and the status, media type, body and documented headers
 * of the reply must match the document (a mismatch throws, failing the test).
 */
export class ContractClient {
  constructor(
    readonly baseUrl: string,
    readonly contract = new ContractChecker(),
  ) {}

  async call(path: string, request: ApiRequest = {}): Promise<ApiReply> {
    const method = request.method ?? 'GET';
    const template = this.contract.templateOf(method, path);
    const headers: Record<string, string> = { ...request.headers };
    let body = request.body;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await response.text();
    const reply: ApiReply = {
      status: response.status,
      statusCode: response.status,
      headers: Object.fromEntries(response.headers.entries()),
      body: text,
      json: <T>() => JSON.parse(text) as T,
    };
    this.contract.check(method, template, reply);
    return reply;
  }

  /** POST /v1/similar with the image as the multipart field `image` (plus optional text fields). */
  searchByUpload(
    image: Buffer,
    fields: Record<string, string> = {},
    headers: Record<string, string> = {},
    file: { contentType?: string; filename?: string } = {},
  ): Promise<ApiReply> {
    const form = multipartBody([
      ...Object.entries(fields).map(([name, value]) => ({ name, value })),
      {
        name: 'image',
        filename: file.filename ?? 'query.jpg',
        contentType: file.contentType ?? 'image/jpeg',
        data: image,
      },
    ]);
    return this.call('/v1/similar', {
      method: 'POST',
      body: form.body,
      headers: { ...headers, 'content-type': form.contentType },
    });
  }
}

/**
 * The bodies as the API sends them: the types @lookalike/client generates from openapi/openapi.json,
 * so these tests read replies with the same types a client gets (and break when the document changes
 * under them).
 */
/** Problem details (application/problem+json). */
export type ProblemBody = Problem;
/** POST /v1/similar and GET /v1/items/{id}/similar. */
export type SimilarBody = SimilarResponse;

/** GET /v1/jobs/{jobId}. */
export type JobBody = Job;

export interface RawReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A request whose body is sent in two halves: the server has the headers (and half the body) at
 * once, and the request stays in flight until `finish()` sends the rest. For tests that need a
 * request provably in progress (admission limits, graceful shutdown) without timing guesses.
 */
export function halfSentRequest(
  url: string,
  request: { method: string; body: Buffer; headers: Record<string, string> },
): { finish(): void; reply: Promise<RawReply> } {
  const half = Math.floor(request.body.length / 2);
  let outgoing: http.ClientRequest | undefined;
  const reply = new Promise<RawReply>((resolve, reject) => {
    outgoing = http.request(url, {
      method: request.method,
      headers: { ...request.headers, 'content-length': String(request.body.length) },
      agent: false,
    });
    outgoing.on('error', reject);
    outgoing.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () =>
        resolve({
          statusCode: response.statusCode ?? 0,
          headers: Object.fromEntries(
            Object.entries(response.headers).map(([name, value]) => [name, String(value)]),
          ),
          body,
        }),
      );
    });
    outgoing.write(request.body.subarray(0, half));
  });
  return { finish: () => outgoing?.end(request.body.subarray(half)), reply };
}
