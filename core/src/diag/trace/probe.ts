import type { ChildProcess } from 'node:child_process';
import { TsnetError } from '../../errors.js';
import { start } from '../../exec.js';

/** What the probe process is told (one JSON argument). */
export interface ProbeConfig {
  proto: 'tcp' | 'udp' | 'icmp';
  family: 4 | 6;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** ping -s SIZE (icmp). */
  size?: number;
  timeoutMs: number;
  /** Sentinel datagrams to 127.0.0.1:start until "go" on stdin; one to 127.0.0.1:end after the probe. */
  sentinelStart: number;
  sentinelEnd: number;
}

/** connected/answered: a reply came; refused: the destination answered RST / port unreachable. */
export interface ProbeResult {
  result: 'connected' | 'answered' | 'refused' | 'timeout' | 'unreachable' | 'error';
  error?: string;
}

/**
 * The probe, run by Node inside FROM's namespace (`nsenter --net=PATH node -e`): so the packet is
 * FROM's own, with FROM's routes and source address, and its source port pinned (the trace rule
 * matches it exactly). ICMP goes through ping(8) with a payload size that marks it.
 */
const SCRIPT = String.raw`
const cfg = JSON.parse(process.argv[1]);
const dgram = require('node:dgram'), net = require('node:net'), cp = require('node:child_process');
const mark = () => new Promise((res) => { const s = dgram.createSocket('udp4'); s.send('tsnet-trace', cfg.sentinelEnd, '127.0.0.1', () => { s.close(); res(); }); });
let finished = false;
const done = async (r) => { if (finished) return; finished = true; await mark(); process.stdout.write(JSON.stringify(r) + '\n'); process.exit(0); };
const unreach = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const fail = (e) => done({ result: e.code === 'ECONNREFUSED' ? 'refused' : unreach.has(e.code) ? 'unreachable' : 'error', error: e.code || e.message });
function probe() {
  if (cfg.proto === 'tcp') {
    const s = net.connect({ host: cfg.dst, port: cfg.dport, localPort: cfg.sport, localAddress: cfg.src });
    const t = setTimeout(() => { s.destroy(); done({ result: 'timeout' }); }, cfg.timeoutMs);
    s.on('connect', () => clearTimeout(t));
    // Close gently (FIN, read what the server says): a reset could crash a careless server.
    s.on('connect', () => { s.on('data', () => {}); s.end(); s.on('close', () => done({ result: 'connected' })); setTimeout(() => done({ result: 'connected' }), 500); });
    s.on('error', fail);
  } else if (cfg.proto === 'udp') {
    const s = dgram.createSocket(cfg.family === 6 ? 'udp6' : 'udp4');
    s.on('error', fail);
    s.on('message', () => done({ result: 'answered' }));
    s.bind(cfg.sport, cfg.src, () => s.connect(cfg.dport, cfg.dst, () => s.send('tsnet-trace')));
    setTimeout(() => done({ result: 'timeout' }), cfg.timeoutMs);
  } else {
    const w = String(Math.max(1, Math.ceil(cfg.timeoutMs / 1000)));
    const r = cp.spawnSync('ping', ['-' + cfg.family, '-n', '-c', '1', '-W', w, '-s', String(cfg.size), '-I', cfg.src, cfg.dst], { encoding: 'utf8' });
    const out = (r.stdout || '') + (r.stderr || '');
    if (r.status === 0) done({ result: 'answered' });
    else if (/Unreachable|unreachable/.test(out)) done({ result: 'unreachable', error: out.split('\n').find((l) => /nreachable/.test(l)) });
    else done({ result: r.error ? 'error' : 'timeout', error: r.error ? String(r.error) : undefined });
  }
}
const s = dgram.createSocket('udp4');
const send = () => s.send('tsnet-trace', cfg.sentinelStart, '127.0.0.1');
const iv = setInterval(send, 50);
send();
process.stdin.once('data', () => { clearInterval(iv); s.close(); probe(); });
process.stdin.on('end', () => { if (!finished) process.exit(3); }); // tsnet is gone: never linger
setTimeout(() => process.exit(2), cfg.timeoutMs + 30000).unref();
`;

export class Probe {
  private readonly child: ChildProcess;
  private out = '';
  private readonly ended: Promise<ProbeResult>;

  constructor(nsPath: string | undefined, cfg: ProbeConfig) {
    const node = [process.execPath, '-e', SCRIPT, JSON.stringify(cfg)];
    this.child = start(nsPath === undefined ? node : ['nsenter', `--net=${nsPath}`, ...node], { stdio: 'pipe' });
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (d: string) => {
      this.out += d;
    });
    this.child.stderr?.on('data', () => undefined);
    this.child.stdin?.on('error', () => undefined);
    this.ended = new Promise((resolve, reject) => {
      this.child.on('error', (e) => reject(new TsnetError('EXEC_FAILED', `the probe did not start: ${e.message}`)));
      this.child.on('close', (code) => {
        const line = this.out.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(line) as ProbeResult);
        } catch {
          reject(new TsnetError('EXEC_FAILED', `the probe exited (${code ?? 'signal'}) without a result`));
        }
      });
    });
    this.ended.catch(() => undefined);
  }

  /** Sends the probe (after the monitors saw the sentinel) and waits for its outcome. */
  go(): Promise<ProbeResult> {
    this.child.stdin?.write('go\n');
    return this.ended;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
