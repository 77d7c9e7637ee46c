import { describe, expect, it } from 'vitest';
import { CniError } from '../../core/src/cni/errors.js';
import type { CniCall, NetConf } from '../../core/src/cni/types.js';
import { clientIdOf, DEFAULT_SOCKET, parseDhcp, parseSocketPath } from '../../plugins/dhcp/config.js';
import { parseDaemonFlags, parseDuration } from '../../plugins/dhcp/flags.js';
import { acquireDelays } from '../../plugins/dhcp/lease.js';
import { classlessRoutes, leaseTimes, optionCode, prefixLength, resultRoutes, router, serverId, staticRoutes } from '../../plugins/dhcp/options.js';
import { decode, encode, FLAG_BROADCAST, messageType, MIN_SIZE, MSG, OPT, request, WireError, type DhcpPacket } from '../../plugins/dhcp/wire.js';

const MAC = '02:11:22:33:44:55';
const hex = (s: string) => Buffer.from(s.replace(/\s/gu, ''), 'hex');

/** A server reply built by hand, byte by byte (not with encode): what dnsmasq sends. */
function serverReply(type: number, options: Buffer, fields: { sname?: Buffer; file?: Buffer } = {}): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 2; // BOOTREPLY
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(0xdeadbeef, 4);
  b.writeUInt16BE(0x8000, 10);
  hex('0ad3000a').copy(b, 16); // yiaddr 10.211.0.10
  hex('0ad30001').copy(b, 20); // siaddr
  hex('021122334455').copy(b, 28);
  fields.sname?.copy(b, 44);
  fields.file?.copy(b, 108);
  b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, Buffer.from([53, 1, type]), options, Buffer.from([255])]);
}

describe('DHCP wire format', () => {
  it('encodes a DISCOVER at the RFC 2131 offsets, message type first, padded to the BOOTP minimum', () => {
    const p = request({ xid: 0x01020304, chaddr: MAC, type: MSG.DISCOVER, broadcast: true }, [
      [OPT.CLIENT_ID, Buffer.from('\0c/n/eth0', 'latin1')],
      [OPT.PARAM_REQUEST_LIST, Buffer.from([3, 1])],
    ]);
    const b = encode(p);
    expect(b.length).toBe(MIN_SIZE);
    expect(b.subarray(0, 12).toString('hex')).toBe('010106000102030400008000'); // op htype hlen hops xid secs flags
    expect(b.subarray(12, 28).toString('hex')).toBe('0'.repeat(32)); // ciaddr yiaddr siaddr giaddr
    expect(b.subarray(28, 44).toString('hex')).toBe(`021122334455${'0'.repeat(20)}`);
    expect(b.readUInt32BE(236)).toBe(0x63825363);
    expect(b.subarray(240, 240 + 3 + 2 + 9 + 2 + 2 + 1).toString('hex')).toBe(`350101 3d09${Buffer.from('\0c/n/eth0', 'latin1').toString('hex')} 37020301 ff`.replace(/\s/gu, ''));
    expect(b.subarray(240 + 19).every((x) => x === 0)).toBe(true);
  });

  it('round-trips every field and option', () => {
    const p = request({ xid: 0xffffffff, chaddr: MAC, type: MSG.REQUEST, broadcast: false, ciaddr: '10.211.0.10', secs: 7 }, [[OPT.REQUESTED_IP, hex('0ad3000a')], [OPT.HOST_NAME, Buffer.from('web')]]);
    const back = decode(encode(p));
    expect(back).toEqual({ ...p, options: new Map([[OPT.MESSAGE_TYPE, Buffer.from([MSG.REQUEST])], [OPT.REQUESTED_IP, hex('0ad3000a')], [OPT.HOST_NAME, Buffer.from('web')]]) });
    expect(back.flags & FLAG_BROADCAST).toBe(0);
  });

  it('splits options longer than 255 bytes and joins the parts on decode (RFC 3396)', () => {
    const long = Buffer.alloc(300, 0x41);
    const b = encode(request({ xid: 1, chaddr: MAC, type: MSG.DISCOVER, broadcast: true }, [[OPT.USER_CLASS, long]]));
    expect(b[243]).toBe(OPT.USER_CLASS);
    expect(b[244]).toBe(255);
    expect(b[244 + 256]).toBe(OPT.USER_CLASS);
    expect(b[244 + 257]).toBe(45);
    expect(decode(b).options.get(OPT.USER_CLASS)).toEqual(long);
  });

  it('decodes a server reply, skipping pads, with options overloaded into file and sname (option 52)', () => {
    const file = Buffer.from([3, 4, 10, 211, 0, 1, 255]);
    const sname = Buffer.from([0, 0, 51, 4, 0, 0, 0, 120, 255]);
    const p = decode(serverReply(MSG.ACK, Buffer.from([0, 52, 1, 3, 1, 4, 255, 255, 255, 0]), { file, sname }));
    expect(p.op).toBe(2);
    expect(p.xid).toBe(0xdeadbeef);
    expect(p.yiaddr).toBe('10.211.0.10');
    expect(p.chaddr).toBe(MAC);
    expect(messageType(p)).toBe(MSG.ACK);
    expect(router(p)).toBe('10.211.0.1');
    expect(prefixLength(p)).toBe(24);
    expect(leaseTimes(p)).toEqual({ lease: 120, t1: 60, t2: 102 });
  });

  it('refuses malformed messages with a reason', () => {
    const ok = serverReply(MSG.OFFER, Buffer.alloc(0));
    expect(() => decode(ok.subarray(0, 200))).toThrow(/too short/u);
    const noCookie = Buffer.from(ok);
    noCookie.writeUInt32BE(0, 236);
    expect(() => decode(noCookie)).toThrow(/cookie/u);
    const badOp = Buffer.from(ok);
    badOp[0] = 9;
    expect(() => decode(badOp)).toThrow(/op 9/u);
    const past = Buffer.concat([ok.subarray(0, 240), Buffer.from([53, 1, 2, 3, 8, 10, 211])]);
    expect(() => decode(past)).toThrow(WireError);
    expect(() => decode(Buffer.concat([ok.subarray(0, 240), Buffer.from([3])]))).toThrow(/no length/u);
    expect(() => encode({ ...request({ xid: 1, chaddr: 'nope', type: MSG.DISCOVER, broadcast: true }, []) } as DhcpPacket)).toThrow(/Ethernet/u);
  });
});

describe('DHCP options a lease reads', () => {
  const ack = (opts: number[]) => decode(serverReply(MSG.ACK, Buffer.from(opts)));

  it('reads classless static routes (121): widths 0, 24, 32, 9; a malformed option is ignored whole', () => {
    const p = ack([121, 29, 0, 10, 211, 0, 1, 24, 10, 211, 9, 10, 211, 0, 2, 32, 192, 0, 2, 7, 10, 211, 0, 3, 9, 10, 128, 10, 211, 0, 4]);
    expect(classlessRoutes(p)).toEqual([
      { dst: '0.0.0.0/0', gw: '10.211.0.1' },
      { dst: '10.211.9.0/24', gw: '10.211.0.2' },
      { dst: '192.0.2.7/32', gw: '10.211.0.3' },
      { dst: '10.128.0.0/9', gw: '10.211.0.4' },
    ]);
    expect(classlessRoutes(ack([121, 5, 33, 10, 0, 0, 0]))).toEqual([]);
    expect(classlessRoutes(ack([121, 4, 24, 10, 211, 9]))).toEqual([]);
  });

  it('builds the result routes as the reference: 121 alone when present, else 33 (classful) and a default via the router', () => {
    const both = ack([3, 4, 10, 211, 0, 1, 121, 8, 24, 10, 211, 9, 10, 211, 0, 2, 33, 8, 172, 16, 0, 0, 10, 211, 0, 5]);
    expect(resultRoutes(both)).toEqual([{ dst: '10.211.9.0/24', gw: '10.211.0.2' }]);
    const noCidr = ack([3, 4, 10, 211, 0, 1, 33, 16, 172, 16, 0, 0, 10, 211, 0, 5, 10, 0, 0, 0, 10, 211, 0, 6]);
    expect(staticRoutes(noCidr)).toEqual([{ dst: '172.16.0.0/16', gw: '10.211.0.5' }, { dst: '10.0.0.0/8', gw: '10.211.0.6' }]);
    expect(resultRoutes(noCidr)).toEqual([...staticRoutes(noCidr), { dst: '0.0.0.0/0', gw: '10.211.0.1' }]);
    expect(resultRoutes(ack([]))).toEqual([]);
  });

  it('reads mask, server id and times: non-contiguous masks refused, T1/T2 defaulted when missing or out of order', () => {
    expect(prefixLength(ack([1, 4, 255, 255, 255, 255]))).toBe(32);
    expect(prefixLength(ack([1, 4, 0, 0, 0, 0]))).toBe(0);
    expect(prefixLength(ack([1, 4, 255, 0, 255, 0]))).toBeUndefined();
    expect(prefixLength(ack([1, 3, 255, 255, 0]))).toBeUndefined();
    expect(serverId(ack([54, 4, 10, 211, 0, 1]))).toBe('10.211.0.1');
    expect(leaseTimes(ack([]))).toBeUndefined();
    expect(leaseTimes(ack([51, 4, 0, 0, 0, 120, 58, 4, 0, 0, 0, 4, 59, 4, 0, 0, 0, 7]))).toEqual({ lease: 120, t1: 4, t2: 7 });
    // T2 past the lease: 85 %; T1 past T2: 50 % (the reference's defaults).
    expect(leaseTimes(ack([51, 4, 0, 0, 0, 100, 58, 4, 0, 0, 0, 90, 59, 4, 0, 0, 1, 0]))).toEqual({ lease: 100, t1: 50, t2: 85 });
  });

  it('names options as the reference does, numbers 0-255 otherwise', () => {
    expect(optionCode('host-name')).toBe(12);
    expect(optionCode('dhcp-client-identifier')).toBe(61);
    expect(optionCode('121')).toBe(121);
    expect(optionCode('256')).toBeUndefined();
    expect(optionCode('domain-name')).toBeUndefined();
    expect(optionCode('toString')).toBeUndefined();
  });

  it('retries acquiring on the reference schedule: four quick retries about 2 s apart, then doubling from 8 s below resendmax', () => {
    const d = [...acquireDelays(62_000)];
    expect(d.length).toBe(8);
    for (const x of d.slice(0, 4)) {
      expect(x).toBeGreaterThanOrEqual(1000);
      expect(x).toBeLessThan(3000);
    }
    expect(d.slice(4).map((x) => Math.round(x / 4000) * 4)).toEqual([8, 16, 32, 64]);
    expect([...acquireDelays(1000)].length).toBe(4);
  });
});

describe('dhcp config and daemon flags', () => {
  const call: CniCall = { command: 'ADD', containerId: 'ctr1', netns: '/run/netns/x', ifname: 'eth0', args: { K8S_POD_NAME: 'web-0' }, path: [] };
  const conf = (ipam: Record<string, unknown>): NetConf => ({ cniVersion: '1.0.0', name: 'lan', type: 'macvlan', ipam: { type: 'dhcp', ...ipam } });
  const code = (fn: () => unknown): number => {
    try {
      fn();
    } catch (e) {
      return e instanceof CniError ? e.code : -1;
    }
    return 0;
  };

  it('uses the reference client id (CONTAINERID/NETWORK/IFNAME, at most 254 bytes) and asks for router and mask by default', () => {
    const { socketPath, lease } = parseDhcp(conf({}), call);
    expect(socketPath).toBe(DEFAULT_SOCKET);
    expect(lease).toMatchObject({ clientId: 'ctr1/lan/eth0', containerId: 'ctr1', network: 'lan', netns: '/run/netns/x', ifname: 'eth0', provide: [], request: [3, 1] });
    expect(Buffer.from(clientIdOf({ ...call, containerId: 'a'.repeat(300) }, 'lan'), 'latin1').length).toBe(254);
  });

  it('reads provide (a CNI_ARGS value wins over value) and request (skipDefault drops router and mask)', () => {
    const { lease } = parseDhcp(conf({ daemonSocketPath: '/tmp/d.sock', provide: [{ option: 'host-name', value: 'fixed', fromArg: 'K8S_POD_NAME' }, { option: '60', value: 'tsnet' }], request: [{ option: '121', skipDefault: true }] }), call);
    expect(lease.provide).toEqual([{ code: 12, value: Buffer.from('web-0').toString('base64') }, { code: 60, value: Buffer.from('tsnet').toString('base64') }]);
    expect(lease.request).toEqual([121]);
    expect(parseDhcp(conf({ provide: [{ option: 'host-name', value: 'fixed', fromArg: 'MISSING' }] }), call).lease.provide[0]!.value).toBe(Buffer.from('fixed').toString('base64'));
  });

  it('refuses bad keys with code 7 before anything else happens', () => {
    expect(code(() => parseDhcp(conf({ daemonSocketPath: 'rel/d.sock' }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ daemonSocketPath: 5 }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ provide: [{ option: 'no-such-option', value: 'x' }] }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ provide: [{ option: '300', value: 'x' }] }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ provide: [{ option: '53', value: 'x' }] }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ provide: [{ option: 'host-name', value: 'x'.repeat(256) }] }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ provide: { option: 'host-name' } }), call))).toBe(7);
    expect(code(() => parseDhcp(conf({ request: [{ option: 121, skipDefault: 'yes' }] }), call))).toBe(7);
    expect(code(() => parseDhcp({ cniVersion: '1.0.0', name: 'lan', type: 'dhcp' }, call))).toBe(7);
    expect(parseSocketPath(conf({ daemonSocketPath: '' })).socketPath).toBe(DEFAULT_SOCKET);
  });

  it('parses the daemon flags as Go does (-flag value, -flag=value, durations)', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m2s')).toBe(62_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('10')).toThrow(/invalid duration/u);
    expect(parseDaemonFlags([], '/run/cni/dhcp.sock')).toEqual({ socketPath: '/run/cni/dhcp.sock', hostPrefix: '', broadcast: false, timeoutMs: 10_000, resendMaxMs: 62_000 });
    expect(parseDaemonFlags(['-socketpath', '/tmp/s', '--timeout=2s', '-broadcast', '-resendmax', '5s', '-pidfile=/tmp/p'], 'x')).toEqual({ socketPath: '/tmp/s', pidfile: '/tmp/p', hostPrefix: '', broadcast: true, timeoutMs: 2000, resendMaxMs: 5000 });
    expect(() => parseDaemonFlags(['-nope'], 'x')).toThrow(/not defined: -nope/u);
    expect(() => parseDaemonFlags(['-socketpath'], 'x')).toThrow(/needs an argument/u);
    expect(() => parseDaemonFlags(['-pidfile', 'rel'], 'x')).toThrow(/not absolute/u);
  });
});
