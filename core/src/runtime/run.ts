import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { syncDns } from '../dns/supervisor.js';
import { AlreadyExistsError, InvalidArgumentError, TsnetError } from '../errors.js';
import { start } from '../exec.js';
import { which } from '../exec-which.js';
import { Netlink } from '../kernel/netlink.js';
import { NETNS_RUN_DIR, netnsCreate, netnsDelete, withNetns } from '../kernel/netns.js';
import { connectLocked, detachEndpoint, type ConnectOptions } from '../networks/attach.js';
import { syncFirewall } from '../networks/firewall-sync.js';
import { fault } from '../fault/index.js';
import type { Env } from '../networks/env.js';
import { validateObjectName } from '../validate/names.js';
import { requestedIp } from '../validate/values.js';
import type { ContainerRef, EndpointRecord } from '../networks/types.js';
import { creator, processStartTime } from './process.js';
import { netnsEtcDir, removeNetnsEtc, resolvConfFor, writeNetnsResolvConf } from './resolv.js';
import { removeContainerLocked } from './remove.js';
import type { ContainerRecord } from './types.js';
import { envVar } from '../call/context.js';

export interface RunInput extends ConnectOptions {
  name?: string;
  network?: string;
  command: string[];
  detach?: boolean;
}

/** Fails before any side effect when the program cannot be started (not on PATH, not executable). */
function checkCommand(cmd: string): void {
  if (cmd.includes('/')) {
    try {
      fs.accessSync(cmd, fs.constants.X_OK);
      return;
    } catch (e) {
      throw new TsnetError('EXEC_FAILED', `cannot start ${cmd}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not executable'}`, { command: cmd }, e);
    }
  }
  if (!which(cmd)) throw new TsnetError('EXEC_FAILED', `cannot start ${cmd}: not found in PATH`, { command: cmd });
}

/** Creates the container's namespace and attaches it; undone entirely on failure. Lock held. */
async function prepare(env: Env, input: RunInput): Promise<ContainerRecord> {
  if (input.command.length === 0) throw new InvalidArgumentError('tsnet run needs a command after --');
  checkCommand(input.command[0]!);
  const id = randomBytes(32).toString('hex');
  const name = validateObjectName('container', input.name ?? `c-${id.slice(0, 8)}`);
  if (env.store.containers().some((c) => c.name === name)) throw new AlreadyExistsError(`container ${name}`, { container: name });
  const network = validateObjectName('network', input.network ?? 'bridge');
  for (const ip of input.ips ?? []) requestedIp(ip); // all input checked before the namespace exists
  const record: ContainerRecord = { id, name, netnsPath: '', command: input.command, networks: [network], detached: input.detach ?? false, created: new Date().toISOString() };
  if (network === 'host') {
    if ((input.ports?.length ?? 0) > 0) throw new InvalidArgumentError('-p has no meaning with --network host: the process already uses the host ports');
    record.netnsPath = '/proc/1/ns/net';
    env.store.saveContainer(record);
    return record;
  }
  if (network === 'none' && ((input.ports?.length ?? 0) > 0 || (input.ips?.length ?? 0) > 0)) {
    throw new InvalidArgumentError('--network none has no interface to publish ports or assign addresses on');
  }
  const nsName = `${envVar('TSNET_NETNS_PREFIX') ?? 'tsnet-'}${id.slice(0, 12)}`;
  // Written ahead: a run killed from here on leaves a record naming what it made.
  record.netns = nsName;
  record.netnsPath = path.join(NETNS_RUN_DIR, nsName);
  record.creating = creator();
  env.store.saveContainer(record);
  let ep: EndpointRecord | undefined;
  let made = false;
  try {
    const ns = netnsCreate(nsName);
    made = true;
    fault('netns-created');
    await Netlink.with(ns, (c) => c.linkSetUp('lo'));
    fault('lo-up');
    const ref: ContainerRef = { id, name, netnsPath: ns.path, kind: 'tsnet' };
    if (network !== 'none') {
      ep = await connectLocked(env, network, ref, input);
      const resolv = resolvConfFor(env.store.network(network)!);
      if (resolv) writeNetnsResolvConf(nsName, resolv);
      fault('resolv-written');
    }
    env.store.saveContainer(record);
    fault('container-saved');
  } catch (e) {
    // Everything prepare did, in reverse: the record, the attachment (lease, veth, rules), the namespace.
    env.store.deleteContainer(id);
    if (ep) {
      await detachEndpoint(env, ep).catch(() => undefined);
      if (ep.ports.length > 0) await syncFirewall(env).catch(() => undefined);
    }
    removeNetnsEtc(nsName);
    if (made) netnsDelete(nsName);
    throw e;
  }
  return record;
}

/** Starts the command inside the container's namespace. */
function spawnIn(env: Env, rec: ContainerRecord): ChildProcess {
  const log = rec.detached ? fs.openSync(env.store.containerLog(rec.id), 'a', 0o600) : undefined;
  try {
    const opts = { stdio: log ?? ('inherit' as const), detached: rec.detached };
    if (!rec.netns) return start(rec.command, opts);
    // With a resolv.conf of its own, `ip netns exec` gives the process a private mount namespace
    // with /etc/netns/NAME/resolv.conf over /etc/resolv.conf; otherwise fork inside the namespace.
    if (fs.existsSync(path.join(netnsEtcDir(rec.netns), 'resolv.conf'))) return start(['ip', 'netns', 'exec', rec.netns, ...rec.command], opts);
    return withNetns({ path: rec.netnsPath }, () => start(rec.command, opts));
  } finally {
    if (log !== undefined) fs.closeSync(log);
  }
}

function started(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (e) => reject(new TsnetError('EXEC_FAILED', `cannot start ${child.spawnfile}: ${e.message}`, {}, e)));
  });
}

/**
 * `tsnet run`: a process in a fresh namespace attached to a network. Detached: returns once it
 * runs (remove with `tsnet rm`). Foreground: waits, tears everything down, returns the exit code.
 */
export async function runContainer(env: Env, input: RunInput): Promise<{ record: ContainerRecord; exitCode?: number }> {
  const record = await env.store.locked(() => prepare(env, input));
  let child: ChildProcess | undefined;
  try {
    await syncDns(env.store);
    fault('dns-synced');
    child = spawnIn(env, record);
    record.pid = await started(child);
    fault('process-started');
    const t = processStartTime(record.pid);
    if (t !== undefined) record.startTime = t;
    delete record.creating;
    env.store.saveContainer(record);
    fault('pid-saved');
  } catch (e) {
    // Not started, or started and then failed: the container goes whole (its process with it).
    if (child?.pid !== undefined && record.netns === undefined) child.kill('SIGKILL');
    await env.store.locked(() => removeContainerLocked(env, record, true)).catch(() => undefined);
    throw e;
  }
  if (record.detached) {
    child.unref();
    return { record };
  }
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const exitCode = await new Promise<number>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
  process.off('SIGINT', forward).off('SIGTERM', forward);
  await env.store.locked(() => removeContainerLocked(env, record, true));
  return { record, exitCode };
}
