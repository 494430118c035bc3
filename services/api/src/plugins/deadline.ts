import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

/**
 * One request's deadline: aborted when it passes or the client goes away. The AbortSignal is made
 * only when a route asks for it (`request.deadline`): most requests (by-id searches, listings,
 * events) never do, and on Node 20 every AbortSignal made lives until a full garbage collection —
 * one per request made the search process run a mark-compact (5–12 ms pauses) every few seconds
 * under 200 requests/s (measured with --trace-gc-nvp; a plain object per request does not).
 */
export class RequestDeadline {
  private controller: AbortController | null = null;
  private reason: unknown = undefined;
  private aborted = false;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Aborted when the request deadline passes or the client goes away; pass it to slow work. */
    readonly deadline: AbortSignal;
    /** The deadline's state behind `deadline` (plugins/deadline.ts). */
    requestDeadline: RequestDeadline;
  }
}

/**
 * A whole-request deadline (REQUEST_TIMEOUT_MS, from routing to response): past it the client gets
 * 503 REQUEST_TIMEOUT and `request.deadline` aborts the work still running for it.
 *
 * Fastify's own handlerTimeout / request.signal cannot serve here: they listen for the request
 * stream's 'close', which Node emits as soon as a body has been read, which clears the timer.
 */
async function deadlinePlugin(app: FastifyInstance, options: { timeoutMs: number }): Promise<void> {
  app.decorateRequest('requestDeadline', null as unknown as RequestDeadline);
  app.decorateRequest('deadline', {
    getter(this: FastifyRequest): AbortSignal {
      return this.requestDeadline.signal;
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    const deadline = new RequestDeadline();
    request.requestDeadline = deadline;
    const timer = setTimeout(() => {
      const error = new ApiError('REQUEST_TIMEOUT', `The request took longer than ${options.timeoutMs} ms`, {
        permanent: false,
      });
      deadline.abort(error);
      // A body still arriving would keep the connection open after the answer (Node waits for the
      // rest, and its requestTimeout no longer applies once a response went out): close it.
      if (!request.raw.complete) reply.header('connection', 'close');
      if (!reply.sent && !reply.raw.headersSent) reply.send(error);
    }, options.timeoutMs);
    reply.raw.once('close', () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished) deadline.abort(new Error('client closed the connection'));
    });
  });
}

export default fp(deadlinePlugin, { name: 'lookalike-deadline', fastify: '5.x' });
