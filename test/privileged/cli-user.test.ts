import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from '../../core/src/index.js';
import { testHost, type TestHost } from '../helpers/host.js';
import { dropNetns, isRoot, testName } from '../helpers/scratch.js';
import { netnsView, viewDiff } from '../helpers/snapshot.js';
import { TSNET, workerProcs } from '../helpers/workers.js';

/** A scratch dir every user may write in (so "nothing created" means the check stopped it). */
function openDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-ins-'));
  fs.chmodSync(d, 0o777);
  onTestFinished(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A dir holding `tsnet` (the launcher, as users have it on PATH), prepended to PATH. */
function pathWithTsnet(): string {
  const d = openDir();
  fs.symlinkSync(TSNET, path.join(d, 'tsnet'));
  return `${d}:${process.env['PATH'] ?? '/usr/bin:/bin'}`;
}

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

describe.skipIf(!isRoot)('non-root users', () => {
  it('every command is refused with PERMISSION_DENIED (exit 5) before any side effect; --help, --version, completion work', async () => {
    const host = await testHost('ins-user');
    const scratch = openDir();
    const state = path.join(scratch, 'state'); // does not exist: a command that ran would make it
    const cniDir = path.join(scratch, 'cni');
    const env = { ...process.env, HOME: '/tmp', TSNET_STATE_DIR: state };
    // As nobody, inside the test's host namespace: were the check missing, links would appear there.
    const asNobody = (...args: string[]) => run(['nsenter', `--net=/run/netns/${host.ns}`, ...NOBODY, TSNET, ...args], { check: false, env, timeoutMs: 60_000 });
    const before = await netnsView(host.ns);
    const refused: string[][] = [
      ['network', 'create', 'insnet', '--subnet', '10.215.1.0/24'],
      ['create', 'insnet'],
      ['network', 'ls'],
      ['network', 'inspect', 'bridge'],
      ['network', 'rm', '--force', 'insnet'],
      ['network', 'prune'],
      ['network', 'connect', 'insnet', '/run/netns/x'],
      ['network', 'disconnect', 'insnet', 'x'],
      ['run', '-d', '--network', 'none', '--', 'sleep', '1'],
      ['ps'],
      ['rm', '-f', 'x'],
      ['cni', 'install', '--dir', cniDir],
      ['cni', 'conflist', 'bridge'],
      ['dns', 'status'],
      ['firewall', 'reload'],
      ['firewall', 'status'],
      ['inspect', 'x'],
      ['ping', 'x', 'y'],
      ['doctor', '--fix'],
      ['--format', 'json', 'network', 'ls'],
    ];
    for (const args of refused) {
      const r = await asNobody(...args);
      const words = args.filter((a) => a !== '--format' && a !== 'json');
      const cmd = words.slice(0, ['network', 'cni', 'dns', 'firewall'].includes(words[0]!) ? 2 : 1).join(' ');
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 5, stdout: '' });
      expect(r.stderr, args.join(' ')).toBe(`tsnet: PERMISSION_DENIED: tsnet ${cmd} needs root or CAP_NET_ADMIN (it works on network namespaces, links, firewall rules and root's state); run it as root, e.g. sudo tsnet ${cmd}\n`);
    }
    // Nothing was made: no state dir, no CNI dir, the host namespace as it was.
    expect(fs.readdirSync(scratch)).toEqual([]);
    expect(viewDiff(before, await netnsView(host.ns))).toEqual([]);

    // What needs no privilege works for anyone.
    const help = await asNobody('network', 'create', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    const version = await asNobody('--version');
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+ \(commit ([0-9a-f]{7,}(-dirty)?|unknown)\)\n$/u);
    const comp = await asNobody('completion', 'bash');
    expect(comp.code).toBe(0);
    expect(comp.stdout).toContain('complete -o bashdefault');
    const cands = await asNobody('--get-yargs-completions', 'tsnet', 'network', '');
    expect(cands.stdout.split('\n')).toContain('ls');
    expect(fs.readdirSync(scratch)).toEqual([]);
  });

  it('CAP_NET_ADMIN alone (not root) passes the check', async () => {
    const host = await testHost('ins-cap');
    // nobody with CAP_NET_ADMIN as an ambient capability: the check lets it through; the command
    // then fails further on (root's state), but not with the capability message.
    const r = await run(['nsenter', `--net=/run/netns/${host.ns}`, ...NOBODY, '--inh-caps=+net_admin', '--ambient-caps=+net_admin', TSNET, '--state-dir', '/proc/x', 'network', 'ls'], { check: false, env: { ...process.env, HOME: '/tmp' } });
    expect(r.stderr).not.toContain('needs root or CAP_NET_ADMIN');
    expect(r.stderr).toMatch(/^tsnet: INVALID_ARGUMENT: /u);
  });

  it('root without CAP_NET_ADMIN (a container default): file-only commands (cni install) run, network commands are refused', async () => {
    const host = await testHost('ins-nocap');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsnet-test-nocap-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const noCap = (...a: string[]) => run(['nsenter', `--net=/run/netns/${host.ns}`, 'setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin', TSNET, '--state-dir', host.stateDir, ...a], { check: false, env: { ...process.env, TSNET_WORKER: '0' } });
    const ls = await noCap('network', 'ls');
    expect(ls.code).toBe(5);
    expect(ls.stderr).toMatch(/^tsnet: PERMISSION_DENIED: tsnet network ls needs root or CAP_NET_ADMIN/u);
    const inst = await noCap('cni', 'install', '--dir', dir, '--only', 'bridge');
    expect(inst.stderr).toBe('');
    expect(inst.code).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['bridge']);
  });
});

describe.skipIf(!isRoot)('shell completion through the launcher', () => {
  it('bash: sourcing `tsnet completion bash` completes `tsnet net<TAB>` and `tsnet network <TAB>` (as root: the worker; as nobody: the direct path)', async () => {
    const PATH = pathWithTsnet();
    const script = `
      source <(tsnet completion bash) || exit 3
      complete -p tsnet || exit 4
      COMP_WORDS=(tsnet net); COMP_CWORD=1; _tsnet_completions; echo "A:\${COMPREPLY[*]}"
      COMP_WORDS=(tsnet network ""); COMP_CWORD=2; _tsnet_completions; echo "B:\${COMPREPLY[*]}"
      COMP_WORDS=(tsnet network ls --form); COMP_CWORD=3; _tsnet_completions; echo "C:\${COMPREPLY[*]}"
      COMP_WORDS=(tsnet --format ""); COMP_CWORD=2; _tsnet_completions; echo "D:\${COMPREPLY[*]}"
    `;
    const expected = [
      'complete -o bashdefault -o default -F _tsnet_completions tsnet',
      'A:network',
      'B:create ls inspect rm prune connect disconnect',
      'C:--format',
      'D:text json',
      '',
    ].join('\n');
    const scratch = openDir();
    const env = { ...process.env, PATH, HOME: '/tmp', TSNET_STATE_DIR: path.join(scratch, 'state') };
    const root = await run(['bash', '-c', script], { check: false, env });
    expect(root.stderr).toBe('');
    expect(root.stdout).toBe(expected);
    // Root's requests went through a warm worker (runCli in-process there), started for this state dir.
    const served = workerProcs().filter((w) => fs.readFileSync(`/proc/${w.pid}/environ`, 'utf8').split('\0').includes(`TSNET_STATE_DIR=${env.TSNET_STATE_DIR}`));
    expect(served).toHaveLength(1);
    const nobody = await run([...NOBODY, 'bash', '-c', script], { check: false, env });
    expect(nobody.stdout).toBe(expected);
    expect(fs.readdirSync(scratch)).toEqual([]);
  });

  it('zsh: `tsnet completion zsh` parses (zsh -n) and its function offers the subcommands', async () => {
    const PATH = pathWithTsnet();
    const file = path.join(openDir(), '_tsnet');
    fs.writeFileSync(file, (await run([TSNET, 'completion', 'zsh'], { env: { ...process.env, PATH } })).stdout);
    const parse = await run(['zsh', '-n', file], { check: false });
    expect(parse.code, parse.stderr).toBe(0);
    // compadd/compdef stubbed (no compinit in a non-interactive shell): what the function hands over.
    const r = await run(['zsh', '-f', '-c', `compdef() { :; }; compadd() { print -l -- "$@"; }; _default() { print DEFAULT; }; source ${file}; words=(tsnet network ""); CURRENT=3; _tsnet`], { check: false, env: { ...process.env, PATH } });
    expect(r.stdout).toBe('--\ncreate\nls\ninspect\nrm\nprune\nconnect\ndisconnect\n');
  });
});

/** Runs tsnet ARGS in the host's namespace under a pty (script -qc): the transcript (stdout and stderr). */
async function onPty(host: TestHost, args: string[]): Promise<{ code: number; transcript: string }> {
  const cmd = ['nsenter', `--net=/run/netns/${host.ns}`, TSNET, ...args].map((a) => `'${a.replace(/'/gu, `'\\''`)}'`).join(' ');
  const r = await run(['script', '-qec', cmd, '/dev/null'], { check: false, env: { ...process.env, TSNET_STATE_DIR: host.stateDir }, timeoutMs: 120_000 });
  return { code: r.code, transcript: r.stdout };
}

describe.skipIf(!isRoot)('progress on a terminal', () => {
  it('network rm --force, cni install and doctor draw a counter on a tty stderr only; never when piped or with --format json', async () => {
    const host = await testHost('ins-prog');
    const ok = async (...args: string[]) => {
      const r = await host.tsnet(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    // Six endpoints (netns paths) on one network.
    await ok('network', 'create', 'insprog', '--subnet', '10.215.2.0/24');
    const nss: string[] = [];
    onTestFinished(async () => {
      for (const ns of nss) await dropNetns(ns);
    });
    for (let i = 0; i < 6; i++) {
      const ns = testName('ins-ep');
      nss.push(ns);
      await run(['ip', 'netns', 'add', ns]);
      await ok('network', 'connect', 'insprog', `/run/netns/${ns}`);
    }
    const doctor = await onPty(host, ['doctor']);
    expect(doctor.code, doctor.transcript).toBe(0);
    // 6 endpoints + 8 fixed steps; the last draw is always made, then the line is erased.
    expect(doctor.transcript).toContain('\r\x1b[Kdoctor: 14/14');
    expect(doctor.transcript).toMatch(/\r\x1b\[Kdoctor: \d+\/14 /u);
    expect(doctor.transcript).toContain('no problem found');
    // Not on a pipe, not with --format json on a tty.
    const piped = await host.tsnet('doctor');
    expect(piped.stderr).toBe('');
    const json = await onPty(host, ['--format', 'json', 'doctor']);
    expect(json.transcript).not.toContain('\x1b[K');
    expect(() => JSON.parse(json.transcript)).not.toThrow();

    const cniDir = path.join(host.stateDir, 'cni-bin');
    const cni = await onPty(host, ['cni', 'install', '--dir', cniDir]);
    expect(cni.code, cni.transcript).toBe(0);
    const plugins = fs.readdirSync(cniDir).length;
    expect(plugins).toBeGreaterThan(10);
    expect(cni.transcript).toContain(`\r\x1b[Kinstalling plugins into ${cniDir}: ${plugins}/${plugins}`);

    const rm = await onPty(host, ['network', 'rm', '--force', 'insprog']);
    expect(rm.code, rm.transcript).toBe(0);
    expect(rm.transcript).toMatch(/\r\x1b\[Kremoving network insprog: [0-5]\/8 detaching /u);
    expect(rm.transcript).toContain('\r\x1b[Kremoving network insprog: 8/8 done');
    // The line is erased before the command's own output: stdout is the name alone.
    expect(rm.transcript.replace(/\r\x1b\[K(removing network [^\r\n]*)?/gu, '').replace(/\r/gu, '')).toBe('insprog\n');
    expect((await host.json<{ name: string }[]>('network', 'ls')).map((n) => n.name)).not.toContain('insprog');
  });
});
