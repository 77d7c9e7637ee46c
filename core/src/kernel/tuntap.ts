import fs from 'node:fs';
import { AlreadyExistsError, KernelFeatureMissingError, isTsnetError } from '../errors.js';
import { ioctlBuffer, ioctlValue } from './libc.js';
import { validateIfName } from './names.js';

/** linux/if_tun.h */
const TUNSETIFF = 0x400454ca;
const TUNSETPERSIST = 0x400454cb;
const TUNSETOWNER = 0x400454cc;
const TUNSETGROUP = 0x400454ce;
const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_NO_PI = 0x1000;
const IFREQ_SIZE = 40;

export interface TuntapSpec {
  name: string;
  mode: 'tun' | 'tap';
  multiQueue?: boolean;
  /** uid allowed to attach (TUNSETOWNER). */
  owner?: number;
  /** gid allowed to attach (TUNSETGROUP). */
  group?: number;
}

/**
 * `ip tuntap add NAME mode tap|tun [multi_queue] [user U] [group G]`: a persistent device in the
 * calling thread's namespace (rtnetlink cannot create tun devices; the ioctl on /dev/net/tun
 * can). Move it elsewhere with linkSetNetns. Synchronous: nothing else runs meanwhile.
 */
export function tuntapAdd(spec: TuntapSpec): void {
  validateIfName(spec.name);
  let fd: number;
  try {
    fd = fs.openSync('/dev/net/tun', 'r+');
  } catch (e) {
    throw new KernelFeatureMissingError('tun/tap devices (/dev/net/tun)', 'CONFIG_TUN', e);
  }
  try {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    ifr.write(spec.name, 0, 15, 'utf8');
    ifr.writeUInt16LE((spec.mode === 'tap' ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (spec.multiQueue ? IFF_MULTI_QUEUE : 0), 16);
    try {
      ioctlBuffer(`tuntap add ${spec.name}`, fd, TUNSETIFF, ifr);
    } catch (e) {
      // TUNSETIFF on an existing persistent device of another kind or owner: EBUSY/EINVAL/EPERM.
      if (isTsnetError(e, 'KERNEL_ERROR')) throw new AlreadyExistsError(`link ${spec.name}`, { link: spec.name }, e);
      throw e;
    }
    if (spec.owner !== undefined) ioctlValue(`tuntap ${spec.name} user ${spec.owner}`, fd, TUNSETOWNER, spec.owner);
    if (spec.group !== undefined) ioctlValue(`tuntap ${spec.name} group ${spec.group}`, fd, TUNSETGROUP, spec.group);
    ioctlValue(`tuntap ${spec.name} persist`, fd, TUNSETPERSIST, 1);
  } finally {
    fs.closeSync(fd);
  }
}
