import { describe, expect, it } from 'vitest';
import { alive, clientIn, clientOn, clientOnHost, container, dnsHost, resolverLog, resolverPid, udp53 } from '../helpers/dns-harness.js';
import { isRoot } from '../helpers/scratch.js';

const A_GW = '10.231.21.1';
const B_GW = '10.231.22.1';

describe.skipIf(!isRoot)('embedded DNS: crash safety and scope (root)', () => {
  it('a forwarded answer that comes back after its endpoint is gone (reload closed the address) is dropped; the resolver lives on', async () => {
    // The case: `tsnet run --network payments -- nslookup NAME`, NAME forwarded, the
    // endpoint removed when the command ends, the upstream answering after that (here: 1.5 s).
    const h = await dnsHost('tdr1', { slowMs: 1500 });
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.21.0/24', 'tdr-apps')).code).toBe(0);
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.22.0/24', 'tdr-pay')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-apps', '--name', 'web', '--', 'sleep', '300')).code).toBe(0);
    const pid = await resolverPid(h);
    for (let i = 0; i < 3; i++) {
      const r = await clientOn(h, 'tdr-pay', 'fire', B_GW, `slow${i}.fwd.test`);
      expect(r.code, r.stderr).toBe(0);
      // The command has ended: tdr-pay has no endpoint, its address is no longer served...
      expect(await udp53(h)).toEqual([A_GW]);
    }
    // ...and the upstream's answers arrive for a closed socket.
    await new Promise((r) => setTimeout(r, 2500));
    expect(alive(pid)).toBe(true);
    expect(await resolverPid(h)).toBe(pid);
    const web = await container(h, 'web');
    expect((await clientIn(web.netns, 'query', A_GW, 'web')).stdout.trim()).toBe(`NOERROR ${web.ip}`);
    expect((await clientIn(web.netns, 'query', A_GW, 'x.fwd.test')).stdout.trim()).toBe('NOERROR 192.0.2.7');
    expect(resolverLog(h)).not.toMatch(/uncaught|unhandled|ERR_SOCKET/u);
  }, 90_000);

  it('answers only on the addresses of networks with endpoints, and only to clients inside that network', async () => {
    const h = await dnsHost('tdr2');
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.21.0/24', 'tdr-a')).code).toBe(0);
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.22.0/24', 'tdr-b')).code).toBe(0);
    expect((await h.tsnet('network', 'create', '--subnet', '10.231.23.0/24', 'tdr-c')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-a', '--name', 'alpha', '--', 'sleep', '300')).code).toBe(0);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-b', '--name', 'beta', '--', 'sleep', '300')).code).toBe(0);
    const pid = await resolverPid(h);
    const alpha = await container(h, 'alpha');
    const beta = await container(h, 'beta');
    // Listening: the gateways of tdr-a and tdr-b, not tdr-c (no endpoint), as ss sees it.
    expect(await udp53(h)).toEqual([A_GW, B_GW]);

    // Inside the network: answered, over UDP and TCP.
    expect((await clientIn(alpha.netns, 'query', A_GW, 'alpha')).stdout.trim()).toBe(`NOERROR ${alpha.ip}`);
    expect((await clientIn(alpha.netns, 'query', A_GW, 'alpha', 'tcp')).stdout.trim()).toBe(`NOERROR ${alpha.ip}`);
    // A TCP client that half-closes after its query still gets the answer, forwarded ones too.
    expect((await clientIn(alpha.netns, 'query', A_GW, 'alpha', 'tcp-end')).stdout.trim()).toBe(`NOERROR ${alpha.ip}`);
    expect((await clientIn(alpha.netns, 'query', A_GW, 'x.fwd.test', 'tcp-end')).stdout.trim()).toBe('NOERROR 192.0.2.7');
    // The host itself (its source is the gateway, inside the subnet): answered.
    expect((await clientOnHost(h, 'query', A_GW, 'alpha')).stdout.trim()).toBe(`NOERROR ${alpha.ip}`);
    // From another network's container, to this network's gateway: dropped (UDP: no reply at
    // all), TCP: the connection is made (so the address is reachable from there) and closed
    // without an answer. Neither local nor forwarded names.
    expect((await clientIn(beta.netns, 'query', A_GW, 'alpha')).stdout.trim()).toBe('TIMEOUT');
    expect((await clientIn(beta.netns, 'query', A_GW, 'x.fwd.test')).stdout.trim()).toBe('TIMEOUT');
    expect((await clientIn(beta.netns, 'query', A_GW, 'alpha', 'tcp')).stdout.trim()).toBe('CLOSED');
    // Its own gateway answers it, and does not know alpha (forwarded: the upstream says NXDOMAIN).
    expect((await clientIn(beta.netns, 'query', B_GW, 'beta')).stdout.trim()).toBe(`NOERROR ${beta.ip}`);
    expect((await clientIn(beta.netns, 'query', B_GW, 'alpha')).stdout.trim()).toBe('NXDOMAIN');

    // Listening follows the endpoint set: beta gone -> tdr-b's gateway closed; back -> open again.
    expect((await h.tsnet('rm', '-f', 'beta')).code).toBe(0);
    expect(await udp53(h)).toEqual([A_GW]);
    expect((await h.tsnet('run', '-d', '--network', 'tdr-c', '--name', 'gamma', '--', 'sleep', '300')).code).toBe(0);
    expect(await udp53(h)).toEqual([A_GW, '10.231.23.1']);
    const gamma = await container(h, 'gamma');
    expect((await clientIn(gamma.netns, 'query', '10.231.23.1', 'gamma')).stdout.trim()).toBe(`NOERROR ${gamma.ip}`);
    expect((await clientIn(gamma.netns, 'query', A_GW, 'alpha')).stdout.trim()).toBe('TIMEOUT');
    expect(await resolverPid(h)).toBe(pid);
  }, 90_000);
});
