import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../core/src/exec.js';
import { bounded, timeoutMs } from '../../core/src/fault/deadline.js';

/** Steps that wait on the outside world (netlink, libnftables, locks) give up with TIMEOUT at their bound. */
describe('bounded steps', () => {
  afterEach(() => {
    delete process.env['TSNET_TIMEOUT_FIREWALL_MS'];
  });
  it('a step that never answers fails with TIMEOUT at its bound; one that answers in time is untouched', async () => {
    const t0 = Date.now();
    await expect(bounded('firewall', 'an nftables transaction', new Promise(() => undefined), 80)).rejects.toMatchObject({ code: 'TIMEOUT', details: { kind: 'firewall', timeoutMs: 80 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
    expect(await bounded('netlink', 'a request', Promise.resolve('ok'), 80)).toBe('ok');
    await expect(bounded('netlink', 'a request', Promise.reject(new Error('own error')), 80)).rejects.toThrow('own error');
  });
  it('a spawned step killed at its bound is TIMEOUT, not a generic exec failure', async () => {
    await expect(run(['sleep', '5'], { timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT', details: { timeoutMs: 100 } });
    await expect(run(['false'])).rejects.toMatchObject({ code: 'EXEC_FAILED' });
  });
  it('the bound comes from TSNET_TIMEOUT_<KIND>_MS, else the default', () => {
    expect(timeoutMs('firewall')).toBe(60_000);
    process.env['TSNET_TIMEOUT_FIREWALL_MS'] = '1234';
    expect(timeoutMs('firewall')).toBe(1234);
    process.env['TSNET_TIMEOUT_FIREWALL_MS'] = 'nonsense';
    expect(timeoutMs('firewall')).toBe(60_000);
  });
});
