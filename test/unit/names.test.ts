import { describe, expect, it } from 'vitest';
import { InvalidNameError } from '../../core/src/errors.js';
import { validateIfName, validateNetnsName } from '../../core/src/kernel/names.js';

describe('interface names', () => {
  it.each(['eth0', 'veth1234abcd', 'a', 'x'.repeat(15), 'br-secure.10', 'ü0'])('accepts %j', (n) => {
    expect(validateIfName(n)).toBe(n);
  });

  it.each([
    ['', /empty/],
    ['x'.repeat(16), /16 bytes, at most 15/],
    ['üüüüüüüü', /16 bytes, at most 15/],
    ['a/b', /contains "\/"/],
    ['a b', /contains " "/],
    ['a\tb', /contains "\\t"/],
    ['a\0b', /contains "\\u0000"/],
    ['eth0:1', /contains ":"/],
    ['.', /reserved/],
    ['..', /reserved/],
  ])('rejects %j with INVALID_NAME', (n, why) => {
    let err: unknown;
    try {
      validateIfName(n);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidNameError);
    expect((err as InvalidNameError).code).toBe('INVALID_NAME');
    expect((err as Error).message).toMatch(why);
  });
});

describe('netns names', () => {
  it('accepts iproute2-style names', () => {
    expect(validateNetnsName('tsnet-test_1.a')).toBe('tsnet-test_1.a');
  });
  it.each(['', '..', 'a/b', '../etc', 'a b', 'x'.repeat(65)])('rejects %j', (n) => {
    expect(() => validateNetnsName(n)).toThrow(InvalidNameError);
  });
});
