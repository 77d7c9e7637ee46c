import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { run, type ExecResult } from '../../core/src/index.js';

/**
 * firewalld for one test, never the host's: a private D-Bus system bus (dbus-daemon with its own
 * config and socket) and firewalld running inside the test's host network namespace (so its
 * nftables table lives there), with a copy of /etc/firewalld as its system config (runtime
 * changes only; nothing under /etc is written). Both are killed when the test ends.
 */
export interface PrivateFirewalld {
  /** DBUS_SYSTEM_BUS_ADDRESS of the private bus: pass it to testHost's extra env. */
  busAddress: string;
  dir: string;
  /** Starts dbus-daemon and firewalld inside `ns` and waits until firewalld answers. */
  start(ns: string): Promise<void>;
  /** firewall-cmd ARGS against the private firewalld. */
  cmd(...args: string[]): Promise<ExecResult>;
}

export const haveFirewalld = fs.existsSync('/usr/sbin/firewalld') && fs.existsSync('/usr/bin/dbus-daemon');

const BUS_CONF = (socket: string) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
`;

export function privateFirewalld(): PrivateFirewalld {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-tfw-firewalld-'));
  const socket = path.join(dir, 'bus');
  const busAddress = `unix:path=${socket}`;
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: busAddress };
  const children: ChildProcess[] = [];
  let netns = '';
  onTestFinished(async () => {
    for (const c of children.reverse()) {
      c.kill('SIGTERM');
      await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r)));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const cmd = (...args: string[]) => run(['nsenter', `--net=/run/netns/${netns}`, 'firewall-cmd', ...args], { check: false, env, timeoutMs: 30_000 });
  return {
    busAddress,
    dir,
    cmd,
    async start(ns: string) {
      netns = ns;
      fs.writeFileSync(path.join(dir, 'bus.conf'), BUS_CONF(socket));
      fs.cpSync('/etc/firewalld', path.join(dir, 'etc'), { recursive: true });
      const log = fs.openSync(path.join(dir, 'daemons.log'), 'a');
      const spawnIn = (argv: string[]) => {
        const c = spawn('nsenter', [`--net=/run/netns/${ns}`, ...argv], { env, stdio: ['ignore', log, log] });
        children.push(c);
        return c;
      };
      spawnIn(['dbus-daemon', `--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--nopidfile']);
      for (let i = 0; i < 50 && !fs.existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
      spawnIn(['firewalld', '--nofork', '--nopid', '--system-config', path.join(dir, 'etc'), '--log-file', path.join(dir, 'firewalld.log')]);
      let r = await cmd('--state');
      for (let i = 0; i < 100 && r.stdout.trim() !== 'running'; i++) {
        await new Promise((res) => setTimeout(res, 200));
        r = await cmd('--state');
      }
      fs.closeSync(log);
      if (r.stdout.trim() !== 'running') throw new Error(`private firewalld did not start: ${r.stdout}${r.stderr}\n${fs.readFileSync(path.join(dir, 'daemons.log'), 'utf8')}`);
    },
  };
}
