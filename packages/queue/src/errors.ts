import { LookalikeError } from '@lookalike/config';
import type { z } from 'zod';
import { ALL_ITEMS_FAILED, type JobResult } from './job-result';

/** One validation problem: where (`items[3].metadata.colour`) and what. */
export interface JobIssue {
  path: string;
  message: string;
}

/** Formats a zod path the way a JSON user reads it: `items[3].metadata.colour`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Every problem zod found, flattened; record-key problems carry the key schema's own message. */
export function describeZodIssues(error: z.ZodError): JobIssue[] {
  return error.issues.map((issue) => {
    const inner = issue.code === 'invalid_key' ? issue.issues.map((i) => i.message).join('; ') : '';
    return { path: formatIssuePath(issue.path), message: inner === '' ? issue.message : inner };
  });
}

const MAX_ISSUES_IN_MESSAGE = 20;

/** A job (or item) that does not match the contract. Never worth retrying. */
export class InvalidJobError extends LookalikeError {
  declare readonly code: 'JOB_INVALID';
  readonly issues: JobIssue[];

  constructor(issues: JobIssue[]) {
    const shown = issues.slice(0, MAX_ISSUES_IN_MESSAGE).map((i) => `  - ${i.path}: ${i.message}`);
    if (issues.length > shown.length) shown.push(`  - … and ${issues.length - shown.length} more`);
    super('JOB_INVALID', `Invalid catalogue job:\n${shown.join('\n')}`, {
      permanent: true,
      details: { issues },
    });
    this.issues = issues;
  }

  static fromZodError(error: z.ZodError): InvalidJobError {
    return new InvalidJobError(describeZodIssues(error));
  }
}

export type QueueErrorCode = 'QUEUE_UNAVAILABLE' | 'QUEUE_IDLE_TIMEOUT' | 'QUEUE_BAD_OPTIONS';

/** Redis unreachable or too slow (transient), or the queue misconfigured (permanent). */
export class QueueError extends LookalikeError {
  declare readonly code: QueueErrorCode;

  constructor(
    code: QueueErrorCode,
    message: string,
    options: { permanent?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, { permanent: code === 'QUEUE_BAD_OPTIONS', ...options });
  }
}

/**
 * Every item a job was given failed. The job fails for good (BullMQ UnrecoverableError, no further
 * attempt): by the time this is thrown the item failures are permanent ones, or the attempts are
 * used up. The result, failures included, stays readable on the failed job.
 */
export class AllItemsFailedError extends LookalikeError {
  declare readonly code: typeof ALL_ITEMS_FAILED;
  readonly result: JobResult;

  constructor(result: JobResult) {
    const sample = result.failed
      .slice(0, 3)
      .map((f) => `${f.id}: ${f.code}`)
      .join(', ');
    const more = result.counts.failed > 3 ? ', …' : '';
    super(ALL_ITEMS_FAILED, `all ${result.counts.failed} item(s) failed (${sample}${more})`, {
      permanent: true,
    });
    this.result = result;
  }
}
