import pino from 'pino';
import { VaultPermissionError, VaultUnavailableError, type DatabaseCredential, type LeaseInfo, type SecretStore } from '@aoetl/secrets';
import { LeaseKeeper } from './leases';

/** A store whose renew/lookup answers are scripted; counts calls. */
function fakeStore(behaviour: { renew?: () => Promise<number>; lookup?: () => Promise<LeaseInfo> }) {
  const calls = { renew: 0, lookup: 0 };
  const store = {
    renew: async () => {
      calls.renew++;
      return behaviour.renew ? behaviour.renew() : 60;
    },
    lookupLease: async () => {
      calls.lookup++;
      return behaviour.lookup ? behaviour.lookup() : { ttlSec: 30, renewable: true };
    },
  } as unknown as SecretStore;
  return { store, calls };
}

const cred = (ttl: number, renewable = true): DatabaseCredential => ({ username: 'v-x', password: 'p', leaseId: 'database/creds/r/abc', leaseDurationSec: ttl, renewable });
const log = pino({ level: 'silent' });
const down = () => Promise.reject(new VaultUnavailableError('unreachable', 'vault unreachable for lease renew (ECONNREFUSED)'));

describe('LeaseKeeper', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('renews at half the TTL, asking for the full TTL again, for as long as it runs', async () => {
    const { store, calls } = fakeStore({});
    const renew = jest.spyOn(store, 'renew');
    const keeper = new LeaseKeeper(store, log, () => undefined, { checkEveryMs: 1_000_000 });
    keeper.keep(cred(60), 'src');
    await jest.advanceTimersByTimeAsync(29_000);
    expect(calls.renew).toBe(0);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(calls.renew).toBe(1);
    expect(renew).toHaveBeenCalledWith('database/creds/r/abc', 60, undefined);
    await jest.advanceTimersByTimeAsync(300_000);
    expect(calls.renew).toBe(11); // at 30, 60, …, 330 s
    expect(keeper.stop()).toBeNull();
    await jest.advanceTimersByTimeAsync(300_000);
    expect(calls.renew).toBe(11);
  });

  test('checks between renewals that Vault still knows the lease', async () => {
    const { store, calls } = fakeStore({});
    const keeper = new LeaseKeeper(store, log, () => undefined, { checkEveryMs: 5_000 });
    keeper.keep(cred(600), 'src');
    await jest.advanceTimersByTimeAsync(26_000);
    expect(calls.lookup).toBe(5);
    keeper.stop();
  });

  test('static or non-renewable credentials are left alone', async () => {
    const { store, calls } = fakeStore({});
    const keeper = new LeaseKeeper(store, log, () => undefined);
    keeper.keep(cred(0, false), 'src');
    keeper.keep(cred(60, false), 'src');
    await jest.advanceTimersByTimeAsync(120_000);
    expect(calls).toEqual({ renew: 0, lookup: 0 });
  });

  test('Vault down for a while: retries, and the lease survives when Vault is back in time', async () => {
    let up = false;
    const { store } = fakeStore({ renew: () => (up ? Promise.resolve(20) : down()) });
    const lost = jest.fn();
    const keeper = new LeaseKeeper(store, log, lost, { checkEveryMs: 1_000_000 });
    keeper.keep(cred(20), 'src');
    await jest.advanceTimersByTimeAsync(12_000); // renewal due at 10 s fails, retried
    up = true;
    await jest.advanceTimersByTimeAsync(20_000);
    expect(lost).not.toHaveBeenCalled();
    expect(keeper.stop()).toBeNull();
  });

  test('Vault down until the lease would expire: lost, once, with a clear reason', async () => {
    const { store } = fakeStore({ renew: down, lookup: down });
    const lost = jest.fn();
    const keeper = new LeaseKeeper(store, log, lost, { checkEveryMs: 2_000 });
    keeper.keep(cred(20), 'warehouse');
    await jest.advanceTimersByTimeAsync(30_000);
    expect(lost).toHaveBeenCalledTimes(1);
    expect(lost).toHaveBeenCalledWith('Vault was unreachable until the warehouse credential expired');
    expect(keeper.lost).toBe('Vault was unreachable until the warehouse credential expired');
  });

  test('a lease renewed for less than the safety margin (max TTL reached) is lost', async () => {
    const { store } = fakeStore({ renew: () => Promise.resolve(1) });
    const lost = jest.fn();
    const keeper = new LeaseKeeper(store, log, lost, { checkEveryMs: 1_000_000 });
    keeper.keep(cred(20), 'src');
    await jest.advanceTimersByTimeAsync(11_000);
    expect(lost).toHaveBeenCalledWith('the src credential reached its maximum lifetime');
  });

  test('a permission denial on renewal is a lost lease (not retried forever)', async () => {
    const { store } = fakeStore({ renew: () => Promise.reject(new VaultPermissionError('vault denied lease renew')) });
    const lost = jest.fn();
    const keeper = new LeaseKeeper(store, log, lost, { checkEveryMs: 1_000_000 });
    keeper.keep(cred(20), 'src');
    await jest.advanceTimersByTimeAsync(11_000);
    expect(lost).toHaveBeenCalledWith('Vault refused to keep the src credential alive');
  });
});
