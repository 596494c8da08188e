import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { positiveInt } from '../src/cli-options.js';

describe('positiveInt', () => {
  it('accepts positive whole numbers and refuses everything else with a usage error', () => {
    expect(positiveInt('200')).toBe(200);
    for (const bad of ['0', '-3', '1.5', 'abc', '']) {
      expect(() => positiveInt(bad)).toThrow(InvalidArgumentError);
    }
  });
});
