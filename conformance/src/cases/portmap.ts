import path from 'node:path';
import { run, start } from '../../../core/src/exec.js';
import { NETTOOL } from '../context.js';
import { add, expect, gcStatus, known, older, type Case } from './common.js';

export const PORTMAP_CASES: Case[] = [
  {
    name: 'portmap/publish-and-unpublish',
    needs: ['bridge', 'host-local', 'portmap'],
    perVersion: false,
    async run(c) {
      const { netns, conf, result, id } = await add(c, '10.241.0.0/24');
      const server = start(['ip', 'netns', 'exec', path.basename(netns), 'node', NETTOOL, 'serve-tcp', '80', 'hello-portmap']);
      try {
        const pm = { cniVersion: c.version, name: conf['name'], type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18181, containerPort: 80, protocol: 'tcp' }] }, prevResult: result };
        const r = await c.exec('portmap', 'ADD', pm, { containerId: id, netns });
        expect(r.code === 0, `portmap ADD exited ${r.code}: ${r.stdout}`);
        if (!older(c.version, '0.4.0')) known(c, 'portmap-check', await c.exec('portmap', 'CHECK', { ...pm, prevResult: r.json }, { containerId: id, netns }), 'portmap CHECK', /could not check ipv6 dnat/u);
        const get = (addr: string) => run(['ip', 'netns', 'exec', c.host, 'node', NETTOOL, 'tcp', addr, '18181'], { check: false });
        const gw = result.ips?.[0]?.gateway ?? '';
        let viaGw = await get(gw);
        for (let i = 0; i < 20 && viaGw.code !== 0; i++) viaGw = await get(gw);
        expect(viaGw.stdout === 'hello-portmap\n', `host -> ${gw}:18181 did not reach the container: ${viaGw.stderr}`);
        expect((await get('127.0.0.1')).stdout === 'hello-portmap\n', 'host -> 127.0.0.1:18181 did not reach the container');
        expect((await c.exec('portmap', 'DEL', pm, { containerId: id, netns })).code === 0, 'portmap DEL failed');
        expect((await get(gw)).code !== 0, 'the port still answers after portmap DEL');
        expect((await c.exec('portmap', 'DEL', pm, { containerId: id, netns })).code === 0, 'second portmap DEL failed');
      } finally {
        server.kill('SIGKILL');
      }
    },
  },
  gcStatus('portmap', ['portmap'], (c) => ({ cniVersion: c.version, name: `conf-${c.tag}`, type: 'portmap', capabilities: { portMappings: true } })),
];
