import { describe, expect, it } from 'vitest';
import { fdbList } from '../../core/src/kernel/fdb.js';
import { neighList } from '../../core/src/kernel/neigh.js';
import type { BoundSocket } from '../../core/src/kernel/socket.js';

/** A socket whose neighbour dump answers these messages (IPv4, IPv6, and an AF_BRIDGE vxlan FDB entry). */
function dumpOf(msgs: unknown[]): BoundSocket {
  const k = { getNeighbors: async () => msgs };
  return { netns: 'fake', call: async (_ctx: unknown, fn: (s: typeof k) => Promise<unknown>) => fn(k) } as unknown as BoundSocket;
}
const mac = Buffer.from('020000000001', 'hex');
const msgs = [
  { data: { family: 2, ifindex: 4, state: { permanent: true }, flags: { router: true } }, attrs: { dst: Buffer.from([10, 224, 1, 0]), lladdr: mac } },
  { data: { family: 10, ifindex: 4, state: { noarp: true }, flags: {} }, attrs: { dst: Buffer.from('ff020000000000000000000000000016', 'hex'), lladdr: mac } },
  { data: { family: 7, ifindex: 4, state: { noarp: true, permanent: true }, flags: { self: true } }, attrs: { dst: Buffer.from([10, 228, 0, 2]), lladdr: mac } },
];

describe('neighbour and FDB decoding', () => {
  it('neighList drops AF_BRIDGE entries whatever the dump holds (their NDA_DST is an IPv4 underlay address)', async () => {
    const n = await neighList(dumpOf(msgs));
    expect(n).toEqual([
      { index: 4, family: 4, address: '10.224.1.0', mac: '02:00:00:00:00:01', state: ['permanent'], flags: ['router'] },
      { index: 4, family: 6, address: 'ff02::16', mac: '02:00:00:00:00:01', state: ['noarp'], flags: [] },
    ]);
  });

  it('fdbList keeps only AF_BRIDGE entries', async () => {
    expect(await fdbList(dumpOf(msgs))).toEqual([{ index: 4, mac: '02:00:00:00:00:01', dst: '10.228.0.2', state: ['noarp', 'permanent'], flags: ['self'] }]);
  });
});
