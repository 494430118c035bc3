import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isLookalikeError } from '@lookalike/config';
import {
  ApiError,
  DEFAULT_RETRY_AFTER_SECONDS,
  STATUS_BY_CODE,
  TITLE_BY_STATUS,
  type FieldError,
} from '../errors';
import { PROBLEM_MEDIA_TYPE, type ProblemBody } from '../schemas';
import { logRequestCompleted, noteOutcome } from './request-log';
import { RouteMethods } from './route-methods';

/** Fastify and plugin error codes → our stable codes. */
const FRAMEWORK_CODES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_HANDLER_TIMEOUT: 'REQUEST_TIMEOUT',
  // Raised by the router before any route runs (answered through `frameworkErrorHandler`).
  FST_ERR_BAD_URL: 'BAD_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'ID_TOO_LONG',
  // @fastify/multipart
  FST_REQ_FILE_TOO_LARGE: 'IMAGE_TOO_LARGE',
  FST_FILES_LIMIT: 'MULTIPART_LIMIT',
  FST_FIELDS_LIMIT: 'MULTIPART_LIMIT',
  FST_PARTS_LIMIT: 'MULTIPART_LIMIT',
  FST_PROTO_VIOLATION: 'MULTIPART_INVALID',
  FST_INVALID_JSON_FIELD_ERROR: 'MULTIPART_INVALID',
  FST_MP_PREMATURE_CLOSE: 'MULTIPART_INVALID',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'MULTIPART_INVALID',
};

const FRAMEWORK_MESSAGES: Readonly<Record<string, string>> = {
  FST_REQ_FILE_TOO_LARGE: 'The uploaded image is larger than the upload limit',
  FST_FILES_LIMIT: 'Upload exactly one file (field "image")',
  FST_FIELDS_LIMIT: 'Too many form fields',
  FST_PARTS_LIMIT: 'Too many multipart parts',
  FST_ERR_HANDLER_TIMEOUT: 'The request took longer than the server allows; retry later',
  FST_ERR_BAD_URL: 'The URL path is not valid percent-encoding',
  // Fastify's own message repeats the whole (possibly 10 KB) segment.
  FST_ERR_MAX_PARAM_LENGTH: 'An id in the path is longer than the server accepts',
};

/** A status Fastify put on an error we have no code for. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  404: 'ROUTE_NOT_FOUND',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

export interface Problem {
  status: number;
  body: ProblemBody;
  /** Full error (with stack) for the log, when the client only sees a generic message. */
  logAs: 'info' | 'warn' | 'error';
}

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  /** Set by ajv on the failure inside `propertyNames` (a field name that is not allowed). */
  propertyName?: string;
}

function validationErrors(err: FastifyError): FieldError[] {
  const part = err.validationContext === 'querystring' ? 'query' : (err.validationContext ?? 'body');
  const all = err.validation as ValidationIssue[];
  // ajv follows a bad field name's own failure with a generic "property name must be valid".
  const specific = all.filter((issue) => issue.keyword !== 'propertyNames');
  return (specific.length > 0 ? specific : all).slice(0, 20).map((issue) => {
    let path = `/${part}${issue.instancePath ?? ''}`;
    let message = issue.message ?? 'is invalid';
    const params = issue.params ?? {};
    if (typeof issue.propertyName === 'string') {
      path += `/${issue.propertyName}`;
      message = issue.propertyName.startsWith('_')
        ? 'is not allowed: field names starting with "_" are reserved for internal use'
        : 'is not an allowed field name (1–64 characters of A–Z a–z 0–9 _)';
    } else if (issue.keyword === 'required' && typeof params.missingProperty === 'string') {
      path += `/${params.missingProperty}`;
      message = 'is required';
    } else if (issue.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      path += `/${params.additionalProperty}`;
      message = 'is not allowed';
    } else if (issue.keyword === 'oneOf' && path.match(/^\/body\/items\/\d+$/)) {
      message = 'needs exactly one of imageUrl, imagePath, imageBase64';
    }
    return { path, message };
  });
}

function problemType(code: string): string {
  return `urn:lookalike:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

function statusOf(code: string, err: { permanent?: boolean }): number | undefined {
  // A remote 4xx will fail again (422); a remote 5xx may not (502).
  if (code === 'SOURCE_HTTP_ERROR' && err.permanent === false) return 502;
  return STATUS_BY_CODE[code];
}

/** Turns anything thrown while serving a request into problem details; never leaks internals. */
export function toProblem(err: unknown, request: FastifyRequest): Problem {
  let code = 'INTERNAL';
  let detail = `Internal error; the server log has the details (request ${request.id})`;
  let status = 500;
  let fieldErrors: FieldError[] | undefined;
  let retryAfter: number | undefined;

  const fastifyError = err as Partial<FastifyError> & { permanent?: boolean };
  if (isLookalikeError(err)) {
    const mapped = statusOf(err.code, err);
    if (mapped !== undefined) {
      code = err.code;
      status = mapped;
      detail = err.message;
      if (err instanceof ApiError) {
        fieldErrors = err.fieldErrors;
        retryAfter = err.retryAfterSeconds;
      }
    }
  } else if (fastifyError?.name === 'TimeoutError' || fastifyError?.name === 'AbortError') {
    // Work abandoned at the request deadline (or because the client left).
    code = 'REQUEST_TIMEOUT';
    status = 503;
    detail = 'The request took longer than the server allows; retry later';
  } else if (fastifyError && Array.isArray(fastifyError.validation)) {
    code = 'VALIDATION_FAILED';
    status = 400;
    fieldErrors = validationErrors(fastifyError as FastifyError);
    detail = `Invalid request: ${fieldErrors.map((e) => `${e.path} ${e.message}`).join('; ')}`;
  } else if (typeof fastifyError?.code === 'string' && FRAMEWORK_CODES[fastifyError.code]) {
    code = FRAMEWORK_CODES[fastifyError.code] as string;
    status = STATUS_BY_CODE[code] ?? 400;
    detail = FRAMEWORK_MESSAGES[fastifyError.code] ?? fastifyError.message ?? code;
  } else if (
    typeof fastifyError?.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    // Other client errors raised by Fastify or a plugin (bad JSON, bad multipart framing, …).
    status = fastifyError.statusCode in CODE_BY_STATUS ? fastifyError.statusCode : 400;
    code = CODE_BY_STATUS[status] ?? 'BAD_REQUEST';
    detail = fastifyError.message ?? code;
  }
  if (retryAfter === undefined) retryAfter = DEFAULT_RETRY_AFTER_SECONDS[code];

  const body: ProblemBody = {
    type: problemType(code),
    title: TITLE_BY_STATUS[status] ?? 'Error',
    status,
    code,
    detail,
    instance: request.url.split('?')[0] ?? request.url,
    requestId: String(request.id),
  };
  if (fieldErrors?.length) body.errors = fieldErrors;
  if (retryAfter !== undefined) body.retryAfter = retryAfter;
  const logAs =
    status >= 500 && status !== 503 && status !== 502 && status !== 504
      ? 'error'
      : status >= 500
        ? 'warn'
        : 'info';
  return { status, body, logAs };
}

/**
 * Errors and 5xx get a line of their own; a refusal (4xx) does not: its code and detail go on the
 * request's one "request completed" line (plugins/request-log), like those of errors.
 */
function logProblem(request: FastifyRequest, err: unknown, problem: Problem): void {
  const fields = { code: problem.body.code, status: problem.status };
  noteOutcome(request, { code: problem.body.code, detail: problem.body.detail });
  if (problem.logAs === 'error') request.log.error({ err, ...fields }, 'request failed');
  else if (problem.logAs === 'warn')
    request.log.warn({ ...fields, detail: problem.body.detail }, 'request failed');
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.body.retryAfter !== undefined) reply.header('retry-after', String(problem.body.retryAfter));
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer realm="lookalike"');
  return reply.code(problem.status).type(PROBLEM_MEDIA_TYPE).send(problem.body);
}

/**
 * Every error becomes `application/problem+json` with a stable `code`. Client errors are logged at
 * info without stack; only genuine 500s carry the stack, and only into the log.
 */
async function problemPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err, request, reply) => {
    const problem = toProblem(err, request);
    logProblem(request, err, problem);
    return sendProblem(reply, problem);
  });

  // Registered first, so this hook sees every route registered after it.
  const routeMethods = new RouteMethods();
  app.addHook('onRoute', (route) => routeMethods.add(route.method, route.url));

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = routeMethods.allowed(path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      const problem = toProblem(
        new ApiError(
          'METHOD_NOT_ALLOWED',
          `${path} does not answer ${request.method}; it answers ${allowed.join(', ')}`,
        ),
        request,
      );
      noteOutcome(request, { code: problem.body.code, detail: problem.body.detail });
      return sendProblem(reply, problem);
    }
    const problem = toProblem(new ApiError('ROUTE_NOT_FOUND', `No route ${request.method} ${path}`), request);
    noteOutcome(request, { code: problem.body.code, detail: problem.body.detail });
    return sendProblem(reply, problem);
  });
}

/**
 * Fastify's `frameworkErrors` option: errors the router raises before any route (and so before the
 * error handler and the onRequest hooks) runs — a path that is not valid percent-encoding, an id over
 * `maxParamLength`. Same problem details, request id and log line as every other error.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = toProblem(err, request);
  logProblem(request, err, problem);
  reply.header('x-request-id', request.id);
  void sendProblem(reply, problem);
  // The router answers these before any hook runs, so the request's line is written here.
  logRequestCompleted(request, reply);
}

const CLIENT_ERRORS: Readonly<Record<string, { code: string; detail: string }>> = {
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'CLIENT_TIMEOUT', detail: 'The request was not received in time' },
  HPE_HEADER_OVERFLOW: {
    code: 'HEADERS_TOO_LARGE',
    detail: 'The request line and headers are larger than the server accepts (a very long URL?)',
  },
};

/**
 * Fastify's `clientErrorHandler` option: Node refused the connection's request before Fastify saw it
 * (headers or URL too large, malformed HTTP, body not received within requestTimeout). There is no
 * request object, so the problem details are written to the socket by hand, then it is closed.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset or already destroyed connection has no one left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[err.code ?? ''] ?? { code: 'BAD_REQUEST', detail: 'Malformed HTTP request' };
  const status = STATUS_BY_CODE[known.code] ?? 400;
  const title = TITLE_BY_STATUS[status] ?? 'Error';
  const body: ProblemBody = {
    type: problemType(known.code),
    title,
    status,
    code: known.code,
    detail: known.detail,
    requestId: randomUUID(),
  };
  this.log.info({ code: known.code, status, reason: err.code, requestId: body.requestId }, 'request refused');
  const json = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nX-Request-Id: ${body.requestId}\r\n` +
        `Connection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy(err);
}

export default fp(problemPlugin, { name: 'lookalike-problem', fastify: '5.x' });
