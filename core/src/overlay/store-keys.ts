/**
 * The overlay store's key layout in etcd, all under /tsnet/v1/ (values are JSON unless said):
 *
 *   networks/NAME              OverlayNetwork                           no lease
 *   vnis/VNI                   the network's name (text)                no lease; claimed with networks/NAME in one txn
 *   hosts/HOST                 {host, lease}: the host's long lease     on that lease
 *   subnets/NAME/A.B.C.D-P     HostLease                                on the host's long lease
 *   hostsubnets/NAME/HOST      the subnet's key suffix A.B.C.D-P (text)  on the host's long lease; one per host and network
 *   endpoints/NAME/HOST/CID    OverlayEndpoint                          on the host's long lease
 *   alive/HOST                 {host, underlay, hostname}               on a short lease (doctor/inspect only)
 *
 * A subnet claim puts subnets/... and hostsubnets/... in one create-if-absent transaction, so a
 * subnet has one owner and a host one subnet per network.
 */
export const ROOT = '/tsnet/v1/';

export const networkKey = (name: string): string => `${ROOT}networks/${name}`;
export const networksPrefix = `${ROOT}networks/`;
export const vniKey = (vni: number): string => `${ROOT}vnis/${vni}`;
export const vnisPrefix = `${ROOT}vnis/`;
export const hostKey = (host: string): string => `${ROOT}hosts/${host}`;
/** "10.226.3.0/24" -> "10.226.3.0-24" (no "/" inside one key segment). */
export const subnetSegment = (cidr: string): string => cidr.replace('/', '-');
export const segmentSubnet = (seg: string): string => seg.replace(/-(\d+)$/u, '/$1');
export const subnetKey = (net: string, cidr: string): string => `${ROOT}subnets/${net}/${subnetSegment(cidr)}`;
export const subnetsPrefix = (net?: string): string => (net === undefined ? `${ROOT}subnets/` : `${ROOT}subnets/${net}/`);
export const hostSubnetKey = (net: string, host: string): string => `${ROOT}hostsubnets/${net}/${host}`;
export const hostSubnetsPrefix = (net?: string): string => (net === undefined ? `${ROOT}hostsubnets/` : `${ROOT}hostsubnets/${net}/`);
export const endpointKey = (net: string, host: string, cid: string): string => `${ROOT}endpoints/${net}/${host}/${cid}`;
export const endpointsPrefix = (net?: string, host?: string): string =>
  net === undefined ? `${ROOT}endpoints/` : host === undefined ? `${ROOT}endpoints/${net}/` : `${ROOT}endpoints/${net}/${host}/`;
export const aliveKey = (host: string): string => `${ROOT}alive/${host}`;
export const alivePrefix = `${ROOT}alive/`;

/** The end of the key range of a prefix (etcd's range_end: the prefix with its last byte + 1). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  const end = Buffer.from(b);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export type ParsedKey =
  | { kind: 'network'; network: string }
  | { kind: 'vni'; vni: number }
  | { kind: 'host'; host: string }
  | { kind: 'lease'; network: string; subnet: string }
  | { kind: 'hostsubnet'; network: string; host: string }
  | { kind: 'endpoint'; network: string; host: string; containerId: string }
  | { kind: 'alive'; host: string };

/** What a key under ROOT names; undefined for anything else (a newer layout, a stray key). */
export function parseKey(key: string): ParsedKey | undefined {
  if (!key.startsWith(ROOT)) return undefined;
  const parts = key.slice(ROOT.length).split('/');
  const [kind, a, b, c] = parts;
  if (a === undefined || a === '') return undefined;
  switch (parts.length === 2 ? kind : parts.length === 3 ? `${kind}/3` : parts.length === 4 ? `${kind}/4` : '') {
    case 'networks':
      return { kind: 'network', network: a };
    case 'vnis':
      return /^\d+$/u.test(a) ? { kind: 'vni', vni: Number(a) } : undefined;
    case 'hosts':
      return { kind: 'host', host: a };
    case 'alive':
      return { kind: 'alive', host: a };
    case 'subnets/3':
      return b ? { kind: 'lease', network: a, subnet: segmentSubnet(b) } : undefined;
    case 'hostsubnets/3':
      return b ? { kind: 'hostsubnet', network: a, host: b } : undefined;
    case 'endpoints/4':
      return b && c ? { kind: 'endpoint', network: a, host: b, containerId: c } : undefined;
    default:
      return undefined;
  }
}
