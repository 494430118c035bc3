/**
 * Base class of every error the project raises on purpose. `code` is stable (clients, job results and
 * tests match on it); `message` is for people. `permanent` tells retry logic (BullMQ jobs, HTTP
 * fetches) whether trying again could ever succeed.
 */
export class LookalikeError extends Error {
  readonly code: string;
  readonly permanent: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: string,
    message: string,
    options: { permanent?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.permanent = options.permanent ?? true;
    this.details = options.details;
  }
}

export function isLookalikeError(err: unknown): err is LookalikeError {
  return err instanceof LookalikeError;
}
