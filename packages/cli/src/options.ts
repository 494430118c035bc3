import { InvalidArgumentError } from 'commander';

/** Commander parser for options such as `--batch-size <n>`: a whole number ≥ 1. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
