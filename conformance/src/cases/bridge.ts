import { add, expect, older, type AddResult, type Case, type IpAddr, type IpLink } from './common.js';

export const BRIDGE_CASES: Case[] = [
  {
    name: 'bridge/add-check-del',
    needs: ['bridge', 'host-local'],
    perVersion: true,
    async run(c) {
      const { netns, conf, result, id } = await add(c, '10.231.0.0/24');
      expect(result.cniVersion === c.version, `result cniVersion ${result.cniVersion}, asked ${c.version}`);
      const ip = result.ips?.[0];
      expect(ip && /^10\.231\.0\.\d+\/24$/u.test(ip.address), `result ips ${JSON.stringify(result.ips)}`);
      expect(older(c.version, '1.0.0') ? ip.version === '4' : ip.version === undefined, `ips[].version ${JSON.stringify(ip.version)} wrong for ${c.version}`);
      const ifIdx = result.interfaces?.findIndex((i) => i.name === 'eth0' && i.sandbox === netns) ?? -1;
      expect(ifIdx >= 0, `no eth0 with sandbox ${netns} in interfaces ${JSON.stringify(result.interfaces)}`);
      expect(ip.interface === undefined || ip.interface === ifIdx, `ips[0].interface ${ip.interface} is not eth0 (${ifIdx})`);
      const seen = await c.nsJson<IpAddr[]>(netns, 'addr', 'show', 'dev', 'eth0');
      expect(seen[0]?.addr_info.some((a) => `${a.local}/${a.prefixlen}` === ip.address), `ip -j addr in the netns does not show ${ip.address}`);
      const br = await c.hostJson<IpLink[]>('-d', 'link', 'show', 'dev', c.bridge);
      expect(br[0]?.linkinfo?.info_kind === 'bridge', `bridge ${c.bridge} not present on the host`);
      if (!older(c.version, '0.4.0')) {
        const chk = await c.exec('bridge', 'CHECK', { ...conf, prevResult: result }, { containerId: id, netns });
        expect(chk.code === 0, `CHECK after ADD exited ${chk.code}: ${chk.stdout}`);
      }
      const del = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(del.code === 0, `DEL exited ${del.code}: ${del.stdout}`);
      expect((await c.nsJson<IpLink[]>(netns, 'link', 'show', 'dev', 'eth0')).length === 0, 'eth0 still present after DEL');
      expect(c.leases().length === 0, `leases left after DEL: ${c.leases().join(' ')}`);
      const again = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(again.code === 0, `second DEL exited ${again.code}: ${again.stdout}`);
    },
  },
  {
    name: 'bridge/del-with-missing-netns',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    async run(c) {
      const { netns, conf, id } = await add(c, '10.232.0.0/24');
      await c.dropNetns(netns);
      const del = await c.exec('bridge', 'DEL', conf, { containerId: id, netns });
      expect(del.code === 0, `DEL with the netns gone exited ${del.code}: ${del.stdout}`);
      expect(c.leases().length === 0, 'lease left after DEL');
    },
  },
  {
    name: 'bridge/error-codes',
    needs: ['bridge'],
    perVersion: false,
    async run(c) {
      const netns = await c.netns();
      const code = async (conf: unknown, omit: string[] = []) => (await c.exec('bridge', 'ADD', conf, { netns, omit })).json?.['code'];
      expect((await code('{"cniVersion":')) === 6, 'malformed JSON is not error 6 (decoding)');
      expect((await code({ ...c.bridgeConf('10.233.0.0/24'), cniVersion: '9.9.9' })) === 1, 'unknown cniVersion is not error 1');
      expect((await code(c.bridgeConf('10.233.0.0/24'), ['CNI_CONTAINERID'])) === 4, 'missing CNI_CONTAINERID is not error 4');
      const typed = await c.exec('bridge', 'ADD', c.bridgeConf('10.233.0.0/24', { mtu: 'big' }), { netns });
      expect(typed.code !== 0 && typeof typed.json?.['code'] === 'number', `a wrongly typed key is not refused with an error JSON: ${typed.stdout}`);
      expect(c.leases().length === 0, 'a refused ADD left a lease');
    },
  },
  {
    name: 'bridge/parallel-adds',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    async run(c) {
      const nss = await Promise.all(Array.from({ length: 8 }, () => c.netns()));
      const conf = c.bridgeConf('10.234.0.0/24');
      const rs = await Promise.all(nss.map((netns, i) => c.exec('bridge', 'ADD', conf, { containerId: `p${i}-${c.tag}`, netns })));
      expect(rs.every((r) => r.code === 0), `parallel ADDs failed: ${rs.filter((r) => r.code !== 0).map((r) => r.stdout).join(' | ')}`);
      const ips = rs.map((r) => (r.json as AddResult).ips?.[0]?.address);
      expect(new Set(ips).size === 8, `duplicate addresses: ${ips.join(' ')}`);
      await Promise.all(nss.map((netns, i) => c.exec('bridge', 'DEL', conf, { containerId: `p${i}-${c.tag}`, netns })));
      expect(c.leases().length === 0, 'leases left after DELs');
    },
  },
  {
    name: 'bridge/gc-removes-stale-leases',
    needs: ['bridge', 'host-local'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const a = await add(c, '10.235.0.0/24', `keep-${c.tag}`);
      await add(c, '10.235.0.0/24', `stale-${c.tag}`);
      expect(c.leases().length === 2, `expected 2 leases, have ${c.leases().length}`);
      const gc = await c.exec('bridge', 'GC', { ...a.conf, 'cni.dev/valid-attachments': [{ containerID: a.id, ifname: 'eth0' }] }, { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
      expect(gc.code === 0, `GC exited ${gc.code}: ${gc.stdout}`);
      expect(c.leases().length === 1, `GC left ${c.leases().length} leases, expected 1`);
    },
  },
  {
    name: 'bridge/status',
    needs: ['bridge'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const r = await c.exec('bridge', 'STATUS', c.bridgeConf('10.236.0.0/24'), { omit: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] });
      expect(r.code === 0, `STATUS exited ${r.code}: ${r.stdout}`);
    },
  },
];
