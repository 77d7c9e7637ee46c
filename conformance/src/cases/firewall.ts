import { run } from '../../../core/src/exec.js';
import type { CaseContext } from '../context.js';
import { NO_ATTACHMENT, bridgeAttach, chained, delTwice, expect, ok, older, passedThrough, ping, type AddResult, type Attached, type Case } from './common.js';

const SUBNET = '10.214.8.0/24';
const OUTSIDE = { host: '10.214.250.1', addr: '10.214.250.2' };

/**
 * A host as dockerd leaves it (iptables FORWARD policy DROP) with an "outside" namespace behind
 * an uplink that routes the containers' subnet back, and one bridge container: without the
 * firewall plugin the container cannot reach outside.
 */
async function dropHost(c: CaseContext): Promise<{ main: Attached; out: string }> {
  await c.hostRun(['iptables', '-P', 'FORWARD', 'DROP']);
  const out = await c.netns();
  const uplink = `u${c.tag}`;
  await run(['ip', '-n', c.host, 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out.split('/').pop()!]);
  await run(['ip', '-n', c.host, 'addr', 'add', `${OUTSIDE.host}/24`, 'dev', uplink]);
  await run(['ip', '-n', c.host, 'link', 'set', uplink, 'up']);
  await c.nsRun(out, ['ip', 'addr', 'add', `${OUTSIDE.addr}/24`, 'dev', 'eth0']);
  await c.nsRun(out, ['ip', 'link', 'set', 'eth0', 'up']);
  await c.nsRun(out, ['ip', 'route', 'add', SUBNET, 'via', OUTSIDE.host]);
  const main = await bridgeAttach(c, SUBNET);
  expect(!(await ping(c, main.netns, OUTSIDE.addr)), 'the container reaches outside through FORWARD policy DROP before the firewall plugin ran');
  return { main, out };
}

/** A few pings (the first may wait for ARP): does the container reach outside? */
async function reaches(c: CaseContext, netns: string): Promise<boolean> {
  for (let i = 0; i < 3; i++) if (await ping(c, netns, OUTSIDE.addr)) return true;
  return false;
}

// backend pinned to iptables: unset, both pick firewalld when one runs on the machine (D-Bus is not per namespace).
const fwConf = (c: CaseContext, prev: unknown) => chained(c, 'firewall', prev, { backend: 'iptables' });

export const FIREWALL_CASES: Case[] = [
  {
    name: 'firewall/forward-open-close',
    needs: ['bridge', 'host-local', 'firewall'],
    perVersion: false,
    async run(c) {
      const { main } = await dropHost(c);
      const conf = fwConf(c, main.result);
      const result = (await ok(c, 'firewall', 'ADD', conf, main.env)).json as AddResult;
      passedThrough(main.result, result, 'firewall ADD');
      expect(result.cniVersion === c.version, `result cniVersion ${result.cniVersion}, asked ${c.version}`);
      expect(await reaches(c, main.netns), 'after firewall ADD the container does not reach outside (real pings through FORWARD DROP)');
      if (!older(c.version, '0.4.0')) await ok(c, 'firewall', 'CHECK', { ...conf, prevResult: result }, main.env);
      await delTwice(c, 'firewall', conf, main.env, async () => {
        expect(!(await ping(c, main.netns, OUTSIDE.addr)), 'after firewall DEL the container still reaches outside');
      });
      const policy = (await c.hostRun(['iptables', '-S', 'FORWARD'])).stdout.split('\n')[0];
      expect(policy === '-P FORWARD DROP', `the FORWARD policy changed: ${policy}`);
    },
  },
  {
    name: 'firewall/gc-status',
    needs: ['bridge', 'host-local', 'firewall'],
    perVersion: false,
    minVersion: '1.1.0',
    async run(c) {
      const { main } = await dropHost(c);
      const conf = fwConf(c, main.result);
      await ok(c, 'firewall', 'ADD', conf, main.env);
      expect(await reaches(c, main.netns), 'after firewall ADD the container does not reach outside');
      const gc = (valid: unknown[]) => ok(c, 'firewall', 'GC', { ...fwConf(c, undefined), 'cni.dev/valid-attachments': valid }, NO_ATTACHMENT);
      await gc([{ containerID: main.env.containerId, ifname: 'eth0' }]);
      expect(await reaches(c, main.netns), 'GC with the attachment valid closed its forwarding');
      await gc([]);
      expect(!(await ping(c, main.netns, OUTSIDE.addr)), 'GC without the attachment left its forwarding open');
      await ok(c, 'firewall', 'STATUS', fwConf(c, undefined), NO_ATTACHMENT);
    },
  },
];
