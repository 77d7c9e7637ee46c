import { run } from '../../core/src/index.js';
import type { Defer, OvdUnderlay } from '../helpers/ovd-hosts.js';
import { dropNetns, testName, uid } from '../helpers/scratch.js';

/**
 * The kernel floor of bench/overlay's throughput: the same data plane as a tsnet overlay (flannel's
 * routed VXLAN: a nolearning vxlan device, a local bridge, per peer an onlink route, a permanent
 * neighbour and an FDB entry; container veth MTU = 1500 - 50) built by hand with `ip -batch` on
 * two more hosts of the same underlay, with no firewall, no conntrack, no tsnet. Its throughput
 * over the same underlay is what this machine's kernel gives that design, whoever builds it.
 */
export interface BareOverlay {
  /** Sender and receiver namespaces (a container of each bare host) and the receiver's address. */
  src: string;
  dst: string;
  dstAddr: string;
}

const batch = (ns: string, lines: string[]) => run(['ip', '-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` });

/** Two bare hosts at BASE.3.1 and BASE.3.2 (VNI 4242, overlay 10.220.250.0/23), each with one container. */
export async function bareOverlay(ul: OvdUnderlay, defer: Defer): Promise<BareOverlay> {
  const hosts = [0, 1].map((i) => ({ i, ns: testName(`${ul.tag}-fh${i}`), ctr: testName(`${ul.tag}-fc${i}`), under: `${ul.base}.3.${i + 1}`, mac: `02:42:0a:dc:fa:0${i}`, subnet: `10.220.${250 + i}` }));
  for (const h of hosts) {
    for (const n of [h.ns, h.ctr]) {
      await run(['ip', 'netns', 'add', n]);
      defer(() => dropNetns(n));
    }
    const port = `${ul.tag.slice(0, 3)}f${h.i}${uid().slice(0, 4)}`;
    await batch(ul.ns, [`link add ${port} type veth peer name eth0 netns ${h.ns}`, `link set ${port} master ${ul.bridge} up`]);
    await run(['ip', 'netns', 'exec', h.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await batch(h.ns, [
      `addr add ${h.under}/16 dev eth0`, 'link set eth0 up', 'link set lo up',
      `link add vxf mtu 1450 address ${h.mac} type vxlan id 4242 dev eth0 local ${h.under} dstport 4789 nolearning`,
      `addr add ${h.subnet}.0/32 dev vxf`, 'link set vxf up',
      'link add brf mtu 1450 type bridge', `addr add ${h.subnet}.1/24 dev brf`, 'link set brf up',
      `link add vcf mtu 1450 type veth peer name eth0 netns ${h.ctr}`, 'link set vcf master brf up',
    ]);
    await batch(h.ctr, [`addr add ${h.subnet}.2/24 dev eth0`, 'link set eth0 up', 'link set lo up', `route add default via ${h.subnet}.1`]);
  }
  for (const h of hosts) {
    const p = hosts[1 - h.i]!;
    await batch(h.ns, [`route add ${p.subnet}.0/24 via ${p.subnet}.0 dev vxf onlink`, `neigh add ${p.subnet}.0 lladdr ${p.mac} dev vxf nud permanent`]);
    await run(['bridge', '-n', h.ns, 'fdb', 'add', p.mac, 'dev', 'vxf', 'dst', p.under, 'self', 'permanent']);
  }
  return { src: hosts[0]!.ctr, dst: hosts[1]!.ctr, dstAddr: `${hosts[1]!.subnet}.2` };
}
