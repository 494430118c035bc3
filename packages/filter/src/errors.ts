import { LookalikeError } from '@lookalike/config';

/**
 * A filter that can never be applied as given. `reason` says what is wrong in words a client can act
 * on; callers add where the filter came from (the API maps it to a problem+json field error, the index
 * store to INVALID_QUERY).
 */
export class FilterError extends LookalikeError {
  readonly reason: string;
  constructor(reason: string) {
    super('INVALID_FILTER', `Invalid filter: ${reason}`);
    this.reason = reason;
  }
}
