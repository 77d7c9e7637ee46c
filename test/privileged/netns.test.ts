import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NamespaceNotFoundError, netnsCreate, netnsDelete, netnsList, netnsOpen, run, start, withNetns } from '../../core/src/index.js';
import { isRoot, scratchNetns, testName, uid } from '../helpers/scratch.js';

describe.skipIf(!isRoot)('network namespaces (root)', () => {
  it('create is visible to `ip netns`, delete removes it', async () => {
    const name = testName('c');
    const ref = netnsCreate(name);
    try {
      expect(ref).toEqual({ path: `/run/netns/${name}`, name });
      const listed = JSON.parse((await run(['ip', '-j', 'netns', 'list'])).stdout) as { name: string }[];
      expect(listed.map((n) => n.name)).toContain(name);
      expect(netnsList()).toContain(name);
      // A fresh namespace has only a down loopback, seen from inside by iproute2.
      const links = JSON.parse((await run(['ip', '-n', name, '-j', 'link'])).stdout) as { ifname: string }[];
      expect(links.map((l) => l.ifname)).toEqual(['lo']);
    } finally {
      netnsDelete(name);
    }
    expect(fs.existsSync(`/run/netns/${name}`)).toBe(false);
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(name);
  });

  it('creating a name twice is ALREADY_EXISTS and leaves the first intact', () => {
    const s = scratchNetns('dup');
    expect(() => netnsCreate(s.name)).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS' }));
    expect(netnsOpen({ name: s.name }).path).toBe(s.ns.path);
  });

  it('opens by name, by path and by pid, and each is the same namespace', async () => {
    const s = scratchNetns('open');
    expect(netnsOpen({ name: s.name })).toEqual(s.ns);
    expect(netnsOpen({ path: s.ns.path })).toEqual(s.ns);
    // `ip netns exec` execs sleep, so the child's pid is a process inside the namespace.
    const child = start(['ip', 'netns', 'exec', s.name, 'sleep', '30']);
    const pid = child.pid!;
    // Wait until ip has entered the namespace and exec'd sleep.
    for (let i = 0; i < 100 && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sleep'; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      const byPid = netnsOpen({ pid });
      expect(byPid.path).toBe(`/proc/${pid}/ns/net`);
      expect(fs.statSync(byPid.path).ino).toBe(fs.statSync(s.ns.path).ino);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('missing namespaces are NAMESPACE_NOT_FOUND; invalid names fail before any side effect', () => {
    expect(() => netnsOpen({ name: `tsnet-absent-${uid()}` })).toThrow(NamespaceNotFoundError);
    expect(() => netnsOpen({ path: '/etc/hostname' })).toThrow(NamespaceNotFoundError);
    expect(() => netnsOpen({ pid: 999_999_999 })).toThrow(NamespaceNotFoundError);
    expect(() => netnsDelete(`tsnet-absent-${uid()}`)).toThrow(NamespaceNotFoundError);
    const before = netnsList();
    expect(() => netnsCreate('../escape')).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
    expect(netnsList()).toEqual(before);
    expect(fs.existsSync('/run/escape')).toBe(false);
  });

  it('withNetns runs inside and always comes back, even when fn throws', () => {
    const s = scratchNetns('with');
    const self = fs.statSync('/proc/thread-self/ns/net').ino;
    const inside = withNetns(s.ns, () => fs.statSync('/proc/thread-self/ns/net').ino);
    expect(inside).toBe(fs.statSync(s.ns.path).ino);
    expect(() =>
      withNetns(s.ns, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(fs.statSync('/proc/thread-self/ns/net').ino).toBe(self);
    expect(() => withNetns(s.ns, async () => 1)).toThrow(/synchronous/);
    expect(fs.statSync('/proc/thread-self/ns/net').ino).toBe(self);
  });
});
