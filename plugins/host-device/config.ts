import { CNI_ERR, CniError, expectType } from '@tsnet/core/plugin';
import type { NetConf } from '@tsnet/core/plugin';
import { validateIfName } from '@tsnet/core/plugin';
import { parseMac } from '@tsnet/core/plugin';
import { confCheck } from '@tsnet/core/plugin';
import { validateAbsolutePath } from '@tsnet/core/plugin';

/** How the host link is named: exactly one of the reference's four keys (or runtimeConfig.deviceID). */
export type DeviceSelector =
  | { by: 'device'; name: string }
  | { by: 'hwaddr'; mac: string }
  | { by: 'kernelpath'; path: string }
  | { by: 'pciBusID'; id: string };

const PCI = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/u;
const bad = (m: string) => new CniError(CNI_ERR.INVALID_CONFIG, `invalid network config: ${m}`, 'INVALID_ARGUMENT');

/** The reference host-device's keys: device, hwaddr, kernelpath, pciBusID; runtimeConfig.deviceID as pciBusID. */
export function parseHostDevice(conf: NetConf): DeviceSelector {
  for (const k of ['device', 'hwaddr', 'kernelpath', 'pciBusID']) expectType(conf, k, 'string');
  const deviceID = conf.runtimeConfig?.['deviceID'];
  if (deviceID !== undefined && typeof deviceID !== 'string') throw bad('runtimeConfig.deviceID must be a string');
  const given = (['device', 'hwaddr', 'kernelpath', 'pciBusID'] as const).filter((k) => typeof conf[k] === 'string' && conf[k] !== '');
  const pci = (deviceID as string | undefined) ?? (conf['pciBusID'] as string | undefined);
  if (given.length > 1) throw bad(`host-device takes one of device, hwaddr, kernelpath or pciBusID, not ${given.join(' and ')}`);
  if (conf['device'] !== undefined && given[0] === 'device') return { by: 'device', name: confCheck(() => validateIfName(conf['device'] as string)) };
  if (given[0] === 'hwaddr') {
    const mac = conf['hwaddr'] as string;
    confCheck(() => parseMac(mac));
    return { by: 'hwaddr', mac: mac.toLowerCase() };
  }
  if (given[0] === 'kernelpath') return { by: 'kernelpath', path: confCheck(() => validateAbsolutePath('kernelpath', conf['kernelpath'] as string, { under: ['/sys'] })) };
  if (pci) {
    if (!PCI.test(pci)) throw bad(`pciBusID ${JSON.stringify(pci.slice(0, 40))} is not a PCI address like 0000:00:1f.6`);
    return { by: 'pciBusID', id: pci.toLowerCase() };
  }
  throw bad('host-device needs one of device, hwaddr, kernelpath or pciBusID');
}
