import { describe, expect, it } from 'vitest';
import { formatPort, parsePortSpec } from '../../core/src/ports/parse.js';

describe('-p parsing', () => {
  it.each([
    ['8080:80', [{ hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' }]],
    ['127.0.0.1:8080:80/udp', [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'udp' }]],
    ['80', [{ hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp' }]],
    ['127.0.0.1::80', [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, proto: 'tcp' }]],
    ['[::1]:8080:80', [{ hostIp: '::1', hostPort: 8080, containerPort: 80, proto: 'tcp' }]],
    ['8000-8001:80-81', [
      { hostIp: '', hostPort: 8000, containerPort: 80, proto: 'tcp' },
      { hostIp: '', hostPort: 8001, containerPort: 81, proto: 'tcp' },
    ]],
  ])('%s', (spec, want) => {
    expect(parsePortSpec(spec)).toEqual(want);
  });

  it.each([
    ['', /invalid -p ""/],
    ['abc', /invalid port "abc"/],
    ['0:80', /port 0 out of range/],
    ['8080:70000', /port 70000 out of range/],
    ['80/sctp', /invalid protocol "sctp"/],
    ['1.2.3.4:5:6:7', /invalid -p/],
    ['999.1.1.1:80:80', /invalid host address "999.1.1.1"/],
    ['8000-8002:80-81', /differ in size/],
    ['90-80:90-80', /ends before it starts/],
  ])('rejects %j', (spec, why) => {
    expect(() => parsePortSpec(spec)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(why) }));
  });

  it('formats like docker ps', () => {
    expect(formatPort({ hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' })).toBe('0.0.0.0:8080->80/tcp');
    expect(formatPort({ hostIp: '::1', hostPort: 1, containerPort: 2, proto: 'udp' })).toBe('[::1]:1->2/udp');
  });
});
