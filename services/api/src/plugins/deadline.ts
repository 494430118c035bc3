import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Aborted when the request deadline passes or the client goes away; pass it to slow work. */
    deadline: AbortSignal;
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
  app.decorateRequest('deadline', null as unknown as AbortSignal);
  app.addHook('onRequest', async (request, reply) => {
    const controller = new AbortController();
    request.deadline = controller.signal;
    const timer = setTimeout(() => {
      const error = new ApiError('REQUEST_TIMEOUT', `The request took longer than ${options.timeoutMs} ms`, {
        permanent: false,
      });
      controller.abort(error);
      // A body still arriving would keep the connection open after the answer (Node waits for the
      // rest, and its requestTimeout no longer applies once a response went out): close it.
      if (!request.raw.complete) reply.header('connection', 'close');
      if (!reply.sent && !reply.raw.headersSent) reply.send(error);
    }, options.timeoutMs);
    reply.raw.once('close', () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished) controller.abort(new Error('client closed the connection'));
    });
  });
}

export default fp(deadlinePlugin, { name: 'lookalike-deadline', fastify: '5.x' });
