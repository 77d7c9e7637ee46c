import { describe, expect, it } from 'vitest';
import { withCall, type CallIo } from '../../core/src/call/context.js';
import { runCli } from '../../core/src/cli/app.js';
import { bareCandidates } from '../../core/src/cli/completion.js';
import { hasNetAdmin } from '../../core/src/cli/privilege.js';

/** Runs one tsnet command line in-process (as the worker does) and returns what it printed. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CallIo = {
    env: {},
    cwd: '/',
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    readStdin: async () => '',
    stdoutIsTTY: false,
    stderrIsTTY: false,
    exitCode: 0,
  };
  const code = await withCall(io, () => runCli(args));
  return { code, stdout, stderr };
}

/** The command words listed under "Commands:" of a help text (`tsnet network ls` -> network ls). */
function subcommands(help: string): string[][] {
  const at = help.indexOf('\nCommands:\n');
  if (at < 0) return [];
  const section = help.slice(at + 11).split('\n\n')[0]!;
  return section
    .split('\n')
    .filter((l) => l.startsWith('  tsnet '))
    .map((l) => l.trim().split(/\s{2,}/u)[0]!.split(' ').slice(1).filter((w) => !/^[<[]/u.test(w)));
}

/** Every command path, found by walking the help output from the top (so a new command is in). */
async function allCommands(): Promise<string[][]> {
  const found: string[][] = [];
  const walk = async (path: string[]): Promise<void> => {
    const r = await cli(...path, '--help');
    expect(r.code, `tsnet ${path.join(' ')} --help`).toBe(0);
    for (const sub of subcommands(r.stdout)) {
      found.push(sub);
      await walk(sub);
    }
  };
  await walk([]);
  return found;
}

describe('--help', () => {
  it('every command has a description, its options and at least one example', async () => {
    const commands = await allCommands();
    const names = commands.map((c) => c.join(' '));
    // The walk finds nested commands too (a sanity check that it really walks).
    expect(names).toEqual(expect.arrayContaining(['network', 'network ls', 'network rm', 'cni install', 'dns status', 'firewall status', 'doctor', 'completion']));
    const missing: string[] = [];
    for (const c of commands) {
      const { stdout } = await cli(...c, '--help');
      const examples = stdout.split('\nExamples:\n')[1]?.split('\n\n')[0]?.split('\n').filter((l) => l.trim().startsWith('tsnet ')) ?? [];
      if (examples.length === 0) missing.push(`${c.join(' ')}: no example`);
      if (!stdout.includes('\nOptions:\n')) missing.push(`${c.join(' ')}: no options`);
      // yargs prints the usage line, a blank line, then the description.
      if (!/^tsnet .*\n\n\S/u.test(stdout)) missing.push(`${c.join(' ')}: no description`);
    }
    expect(missing).toEqual([]);
  });

  it('the top level shows examples and the exit codes', async () => {
    const r = await cli('--help');
    expect(r.stdout).toContain('\nExamples:\n  tsnet network create backend');
    expect(r.stdout).toContain('needs root or CAP_NET_ADMIN');
    expect(r.stdout).toContain('5 kernel or environment');
  });
});

describe('--version', () => {
  it('prints the version and the commit it was built from (unbundled sources say so)', async () => {
    const r = await cli('--version');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dev \(unbundled\)\n$/u);
  });
});

describe('completion', () => {
  it('completion bash|zsh prints the script; another shell is a usage error', async () => {
    const bash = await cli('completion', 'bash');
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -o bashdefault -o default -F _tsnet_completions tsnet');
    const zsh = await cli('completion', 'zsh');
    expect(zsh.stdout.startsWith('#compdef tsnet\n')).toBe(true);
    const fish = await cli('completion', 'fish');
    expect(fish.code).toBe(2);
    expect(fish.stderr).toMatch(/^tsnet: USAGE: .*Choices: "bash", "zsh"/u);
  });

  it('answers completion requests: commands, subcommands, option values', async () => {
    const words = async (...w: string[]) => (await cli('--get-yargs-completions', 'tsnet', ...w)).stdout.split('\n').filter(Boolean);
    expect(await words('net')).toEqual(expect.arrayContaining(['network', 'create', 'run']));
    expect(await words('network', '')).toEqual(['create', 'ls', 'inspect', 'rm', 'prune', 'connect', 'disconnect']);
    expect(await words('--format', '')).toEqual(['text', 'json']);
    expect(await words('completion', '')).toEqual(expect.arrayContaining(['bash', 'zsh']));
  });

  it('strips the descriptions yargs adds when it thinks the shell is zsh, keeping escaped colons', () => {
    expect(bareCandidates('network:manage networks\n--format:output format\nns\\:x:desc\nplain\n')).toBe('network\n--format\nns:x\nplain\n');
  });
});

describe('privilege', () => {
  it('CAP_NET_ADMIN (bit 12) of CapEff decides', () => {
    expect(hasNetAdmin('Name:\tnode\nCapEff:\t000001ffffffffff\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000001000\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000000000\n')).toBe(false);
    expect(hasNetAdmin('CapEff:\t0000000000002fff\n'.replace('2fff', '0fff'))).toBe(false);
  });
});
