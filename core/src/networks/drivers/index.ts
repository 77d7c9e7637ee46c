import { InvalidArgumentError } from '../../errors.js';
import type { Driver } from '../driver.js';
import type { DriverName } from '../types.js';
import { bridgeDriver } from './bridge.js';
import { hostDriver, noneDriver } from './host-none.js';
import { ipvlanDriver, macvlanDriver } from './subif.js';
import { overlayDriver } from './overlay.js';

const DRIVERS: Record<DriverName, Driver> = {
  bridge: bridgeDriver,
  host: hostDriver,
  none: noneDriver,
  macvlan: macvlanDriver,
  ipvlan: ipvlanDriver,
  overlay: overlayDriver,
};

export function driverFor(name: string): Driver {
  const d = (DRIVERS as Record<string, Driver>)[name];
  if (!d) throw new InvalidArgumentError(`unknown driver ${JSON.stringify(name)}: one of ${Object.keys(DRIVERS).join(', ')}`, { driver: name });
  return d;
}
