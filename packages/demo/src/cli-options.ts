import { InvalidArgumentError } from 'commander';

/**
 * commander parser for a positive whole number: `--receipts abc` fails with a clear
 * usage error instead of running with NaN.
 *
 * @example
 * program.option('--receipts <n>', 'receipts to seed', positiveInt, 200);
 */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('must be a positive whole number');
  return n;
}
