import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../errors';

/**
 * Gives a request body `timeoutMs` to arrive in full; past it the client gets 408 UPLOAD_TIMEOUT
 * (problem+json) and the connection is closed, so the rest of the body is never read. Returns the
 * function that stops the clock once the body is all here.
 *
 * Node's requestTimeout (Fastify's option of that name) is server-wide and only checked every
 * connectionsCheckingInterval (30 s); connectionTimeout is an idle timeout, which a client sending a
 * byte now and then never reaches; @fastify/multipart has no time limit. Hence a timer per upload.
 */
export function startUploadBudget(
  request: FastifyRequest,
  reply: FastifyReply,
  timeoutMs: number,
): () => void {
  const timer = setTimeout(() => {
    if (reply.sent || reply.raw.headersSent) return;
    const error = new ApiError(
      'UPLOAD_TIMEOUT',
      `The request body did not arrive within ${timeoutMs} ms; send it faster or in smaller parts`,
      { permanent: false },
    );
    const socket = request.raw.socket;
    // Once the answer is out, drop the connection: the rest of this body is not worth reading.
    reply.raw.once('finish', () => socket.destroySoon());
    void reply.header('connection', 'close').send(error);
  }, timeoutMs);
  const stop = () => clearTimeout(timer);
  reply.raw.once('close', stop);
  return stop;
}
