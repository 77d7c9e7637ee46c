/**
 * Steps the reference plugins (Debian's containernetworking-plugins 1.1.1) are known to fail while
 * tsnet's pass. A case marks such a step with known(); when it fails the known way (its output
 * matches), the case goes on and ends as 'deviation' instead of 'fail'; any other failure of the
 * step fails the case. conformance/README.md's deviation table lists the same ids.
 */
export const DEVIATIONS: Readonly<Record<string, string>> = {
  'portmap-check': 'reference portmap CHECK fails "could not check ipv6 dnat" even for IPv4-only mappings',
  'host-device-second-del': 'reference host-device second DEL fails "failed to find" instead of succeeding',
  'tuning-check-ifname': 'reference tuning CHECK does not substitute IFNAME in sysctl keys',
};
