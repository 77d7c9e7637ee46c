import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, KernelError, KernelFeatureMissingError, LinkNotFoundError, NotFoundError, PermissionError } from '../../core/src/errors.js';
import { missingLinkKind } from '../../core/src/kernel/features.js';
import { mapNetlinkError } from '../../core/src/kernel/nlerror.js';

const rejected = (errno: string) => new Error(`Request rejected: ${errno}`);
const ctx = { operation: 'link add veth', netns: 'n1', link: 'v0' };

describe('netlink error mapping', () => {
  it.each([
    ['ENODEV', LinkNotFoundError, 'LINK_NOT_FOUND'],
    ['EEXIST', AlreadyExistsError, 'ALREADY_EXISTS'],
    ['EPERM', PermissionError, 'PERMISSION_DENIED'],
    ['EADDRNOTAVAIL', NotFoundError, 'ADDRESS_NOT_FOUND'],
    ['ESRCH', NotFoundError, 'ROUTE_NOT_FOUND'],
    ['EINVAL', KernelError, 'KERNEL_ERROR'],
  ] as const)('%s becomes %s', (errno, cls, code) => {
    const e = mapNetlinkError(rejected(errno), ctx);
    expect(e).toBeInstanceOf(cls);
    expect(e.code).toBe(code);
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('names the link and namespace when a link is missing', () => {
    expect(mapNetlinkError(rejected('ENODEV'), ctx).message).toBe('link "v0" not found in netns n1');
  });

  it('EOPNOTSUPP on link add names the kernel option of the kind', () => {
    const e = missingLinkKind('ipvlan', rejected('EOPNOTSUPP'));
    expect(e).toBeInstanceOf(KernelFeatureMissingError);
    expect(e!.option).toBe('CONFIG_IPVLAN');
    expect(e!.message).toMatch(/CONFIG_IPVLAN/);
    expect(missingLinkKind('dummy', rejected('ENOTSUP'))!.option).toBe('CONFIG_DUMMY');
    expect(missingLinkKind('dummy', rejected('EEXIST'))).toBeUndefined();
  });

  it('serialises to a stable JSON shape', () => {
    const e = new KernelFeatureMissingError('ipvlan links', 'CONFIG_IPVLAN');
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: 'KERNEL_FEATURE_MISSING',
      message: e.message,
      details: { feature: 'ipvlan links', option: 'CONFIG_IPVLAN' },
    });
  });
});
