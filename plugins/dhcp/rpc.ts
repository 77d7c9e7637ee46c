import http from 'node:http';

/**
 * The plugin <-> daemon protocol: HTTP/1.1 over the daemon's unix socket, JSON bodies, one POST
 * per CNI call. Not the reference's Go net/rpc: a tsnet plugin talks to a tsnet daemon only.
 *   POST /v1/allocate {lease: LeaseRequest}            -> {address, gateway?, routes}
 *   POST /v1/check    {clientId, address?}             -> {address, gateway?, routes}
 *   POST /v1/release  {clientId}                       -> {released: boolean}
 *   POST /v1/gc       {network, valid: [{containerID, ifname}]} -> {released: string[]}
 *   GET  /v1/status                                    -> {leases: [...]}
 * Errors: a non-200 status with {code, msg} (a CNI error code).
 */
export const API = '/v1';

export interface RpcError {
  code: number;
  msg: string;
}

/** Why a call did not get an answer: the daemon is not there, or went away during the call. */
export class RpcUnreachable extends Error {
  constructor(
    readonly socketPath: string,
    readonly phase: 'connect' | 'answer',
    readonly errno: string,
  ) {
    super(
      phase === 'connect'
        ? `cannot connect to the DHCP daemon at ${socketPath} (${errno}): start it with "dhcp daemon" (see plugins/dhcp/README.md)`
        : `the DHCP daemon at ${socketPath} went away during the call (${errno})`,
    );
  }
}

export class RpcFailed extends Error {
  constructor(readonly code: number, msg: string) {
    super(msg);
  }
}

/** One call; resolves with the daemon's JSON answer, rejects with RpcUnreachable or RpcFailed. */
export function rpc<T>(socketPath: string, method: 'GET' | 'POST', route: string, body?: unknown, timeoutMs = 10 * 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let connected = false;
    const req = http.request({ agent: false, socketPath, method, path: `${API}/${route}`, headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => reject(new RpcUnreachable(socketPath, 'answer', e.code ?? e.message)));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          reject(new RpcFailed(999, `the DHCP daemon at ${socketPath} answered no JSON (HTTP ${res.statusCode})`));
          return;
        }
        if (res.statusCode === 200) resolve(parsed as T);
        else {
          const e = parsed as Partial<RpcError>;
          reject(new RpcFailed(typeof e.code === 'number' ? e.code : 999, typeof e.msg === 'string' ? e.msg : `HTTP ${res.statusCode}`));
        }
      });
    });
    req.on('socket', (s) => s.on('connect', () => (connected = true)));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new RpcUnreachable(socketPath, connected ? 'answer' : 'connect', e.code ?? e.message)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
