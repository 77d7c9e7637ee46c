import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { CNI_ERR, toCniError, validateIfName } from '@tsnet/core/plugin';
import { DEFAULT_SOCKET, type LeaseRequest } from './config.js';
import { DAEMON_USAGE, FlagError, parseDaemonFlags, type DaemonFlags } from './flags.js';
import { DhcpFailure, Lease, type ClientSettings } from './lease.js';
import { API, type RpcError } from './rpc.js';

/**
 * `dhcp daemon`: holds one DHCP lease per container interface and keeps it (renew at T1, rebind
 * at T2) until the plugin's DEL releases it. Its own Node process, never the warm worker: it lives
 * for as long as containers do. Leases live in memory only, as the reference's: a restarted daemon
 * knows none (their server-side leases end at expiry).
 */

class HttpError extends Error {
  constructor(readonly status: number, readonly code: number, msg: string) {
    super(msg);
  }
}

const bad = (msg: string) => new HttpError(400, CNI_ERR.INVALID_CONFIG, msg);

function leaseRequest(v: unknown): LeaseRequest {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  for (const k of ['clientId', 'containerId', 'network', 'netns', 'ifname'] as const) if (typeof o[k] !== 'string' || o[k] === '') throw bad(`lease.${k} must be a non-empty string`);
  if (!path.isAbsolute(o['netns'] as string)) throw bad('lease.netns must be an absolute path');
  try {
    validateIfName(o['ifname'] as string);
  } catch (e) {
    throw bad(String((e as Error).message));
  }
  const provide = o['provide'];
  const request = o['request'];
  if (!Array.isArray(provide) || provide.some((p) => typeof p?.code !== 'number' || typeof p?.value !== 'string')) throw bad('lease.provide must be [{code, value}]');
  if (!Array.isArray(request) || request.some((c) => !Number.isInteger(c) || c < 1 || c > 254)) throw bad('lease.request must be option codes');
  return o as unknown as LeaseRequest;
}

export class DhcpDaemon {
  readonly leases = new Map<string, Lease>();
  private readonly pending = new Map<string, Promise<Lease>>();

  constructor(
    private readonly settings: ClientSettings,
    private readonly hostPrefix = '',
  ) {}

  async allocate(req: LeaseRequest): Promise<Lease> {
    const have = this.leases.get(req.clientId);
    if (have && have.state !== 'expired') return have; // an ADD retried (or CHECK): the lease it holds
    const inflight = this.pending.get(req.clientId);
    if (inflight) return inflight;
    const p = (async () => {
      await have?.stop();
      const l = await Lease.acquire({ ...req, netns: this.hostPrefix + req.netns }, this.settings);
      this.leases.set(req.clientId, l);
      return l;
    })();
    this.pending.set(req.clientId, p);
    try {
      return await p;
    } finally {
      this.pending.delete(req.clientId);
    }
  }

  async release(clientId: string): Promise<boolean> {
    await this.pending.get(clientId)?.catch(() => undefined); // a DEL racing its ADD releases what the ADD got
    const l = this.leases.get(clientId);
    if (!l) return false;
    this.leases.delete(clientId);
    await l.stop();
    return true;
  }

  async gc(network: string, valid: { containerID: string; ifname: string }[]): Promise<string[]> {
    const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
    const gone = [...this.leases.values()].filter((l) => l.req.network === network && !keep.has(`${l.req.containerId}\0${l.req.ifname}`));
    for (const l of gone) await this.release(l.req.clientId);
    return gone.map((l) => l.req.clientId);
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.leases.keys()]) await this.release(id);
  }

  status(): unknown {
    return {
      leases: [...this.leases.values()].map((l) => ({ clientId: l.req.clientId, ifname: l.req.ifname, netns: l.req.netns, address: l.address, state: l.state, renewals: l.renewals, expires: new Date(l.expiresAt).toISOString() })),
    };
  }

  /** The HTTP handler of the protocol in rpc.ts. */
  handler(): http.RequestListener {
    return (req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        void (async () => {
          try {
            let body: Record<string, unknown> = {};
            if (chunks.length > 0) {
              try {
                body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
              } catch {
                throw new HttpError(400, CNI_ERR.DECODE, 'request body is not JSON');
              }
            }
            reply(200, await this.route(req.method ?? '', req.url ?? '', body));
          } catch (e) {
            const err: RpcError & { status: number } =
              e instanceof HttpError ? { status: e.status, code: e.code, msg: e.message } : e instanceof DhcpFailure ? { status: 503, code: CNI_ERR.TRY_AGAIN, msg: e.message } : { status: 500, ...(({ code, message }) => ({ code, msg: message }))(toCniError(e)) };
            reply(err.status, { code: err.code, msg: err.msg });
          }
        })();
      });
    };
  }

  private async route(method: string, url: string, body: Record<string, unknown>): Promise<unknown> {
    const id = () => {
      if (typeof body['clientId'] !== 'string' || body['clientId'] === '') throw bad('clientId must be a non-empty string');
      return body['clientId'];
    };
    switch (`${method} ${url}`) {
      case `POST ${API}/allocate`:
        return (await this.allocate(leaseRequest(body['lease']))).result();
      case `POST ${API}/check`: {
        const l = this.leases.get(id());
        if (!l) throw new HttpError(404, CNI_ERR.UNKNOWN_CONTAINER, `the DHCP daemon holds no lease for ${id()}`);
        if (l.state === 'expired') throw new HttpError(409, CNI_ERR.INTERNAL, `the lease ${l.address} of ${id()} expired (the server did not renew it)`);
        return l.result();
      }
      case `POST ${API}/release`:
        return { released: await this.release(id()) };
      case `POST ${API}/gc`: {
        const valid = body['valid'];
        if (typeof body['network'] !== 'string' || !Array.isArray(valid)) throw bad('gc needs network and valid');
        return { released: await this.gc(body['network'], valid as { containerID: string; ifname: string }[]) };
      }
      case `GET ${API}/status`:
        return this.status();
      default:
        throw new HttpError(404, CNI_ERR.INTERNAL, `no such call ${method} ${url}`);
    }
  }
}

const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

/** Whether something answers on a unix socket path (a live daemon), checked before replacing the file. */
function answers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The listening server: systemd's socket (LISTEN_FDS=1 for this PID) or the socket path, made 0600 in a 0700 dir. */
async function listen(server: http.Server, f: DaemonFlags): Promise<string | undefined> {
  const fds = Number(process.env['LISTEN_FDS'] ?? 0);
  if (fds > 0 && Number(process.env['LISTEN_PID']) === process.pid) {
    if (fds !== 1) throw new FlagError(`too many (${fds}) fds passed through socket activation`);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ fd: 3 }, resolve));
    return undefined;
  }
  const p = f.hostPrefix + f.socketPath;
  fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
  if (fs.existsSync(p)) {
    if (await answers(p)) throw new FlagError(`another daemon is listening on ${p}`);
    fs.rmSync(p, { force: true }); // stale: its daemon died
  }
  const old = process.umask(0o177); // the socket is born 0600: no window where others may connect
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(p, resolve));
  } finally {
    process.umask(old);
  }
  return p;
}

/** `dhcp daemon [flags]`: runs until SIGTERM/SIGINT; returns the exit code for usage errors. */
export async function runDaemon(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('-help') || argv.includes('--help')) {
    process.stderr.write(DAEMON_USAGE);
    return 0;
  }
  let f: DaemonFlags;
  try {
    f = parseDaemonFlags(argv, DEFAULT_SOCKET);
  } catch (e) {
    process.stderr.write(`dhcp daemon: ${(e as Error).message}\n${DAEMON_USAGE}`);
    return 2;
  }
  const daemon = new DhcpDaemon({ timeoutMs: f.timeoutMs, resendMaxMs: f.resendMaxMs, broadcast: f.broadcast, log }, f.hostPrefix);
  const server = http.createServer(daemon.handler());
  server.requestTimeout = 0; // an ADD may wait for the server through the whole backoff
  let socketFile: string | undefined;
  try {
    socketFile = await listen(server, f);
    if (f.pidfile) fs.writeFileSync(f.pidfile, String(process.pid), { mode: 0o644 });
  } catch (e) {
    log(`dhcp daemon: ${(e as Error).message}`);
    return 1;
  }
  log(`dhcp daemon ${process.pid} listening on ${socketFile ?? 'the socket systemd passed'}`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`dhcp daemon: ${sig}, exiting (leases are not released: their containers keep their addresses until expiry)`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  server.close();
  server.closeAllConnections();
  if (socketFile) fs.rmSync(socketFile, { force: true });
  if (f.pidfile) fs.rmSync(f.pidfile, { force: true });
  return 0;
}
