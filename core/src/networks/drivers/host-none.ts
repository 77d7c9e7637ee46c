import { InvalidArgumentError } from '../../errors.js';
import type { Driver } from '../driver.js';

/** host: the process shares the host's namespace; nothing to create or attach. */
export const hostDriver: Driver = {
  name: 'host',
  usesIpam: false,
  firewalled: false,
  configure: () => {
    throw new InvalidArgumentError('only one instance of the host network exists; it is built in');
  },
  create: async () => [],
  remove: async () => {},
  attach: async () => {
    throw new InvalidArgumentError('a container cannot be connected to the host network: run it with --network host');
  },
  detach: async () => {},
};

/** none: loopback only. */
export const noneDriver: Driver = {
  name: 'none',
  usesIpam: false,
  firewalled: false,
  configure: () => {
    throw new InvalidArgumentError('only one instance of the none network exists; it is built in');
  },
  create: async () => [],
  remove: async () => {},
  attach: async (plan, k) => {
    const c = k.open(plan.container.netnsPath);
    try {
      await c.linkSetUp('lo');
    } finally {
      c.close();
    }
    return {};
  },
  detach: async () => {},
};
