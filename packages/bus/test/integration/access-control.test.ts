/**
 * The quarantine's Redis side against the real Redis, as the monitor's quarantine ACL user (deploy/local/redis.sh):
 * switch a user off (its logins fail) and on again, close its open connections, keep the quarantine's state. The
 * user here is a throwaway one made by the admin; the stream side (handing pending entries back) runs in
 * test/e2e/quarantine.test.ts against the real agents.
 */
import { randomBytes } from 'node:crypto';
import { adminRedis, stackEnv, stackRedis } from '@aoetl/testing';
import { RedisAccessControl } from '../../src/access-control';

const admin = adminRedis();
const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
const user = `aoetl-test-q-${tag}`;
const password = randomBytes(16).toString('hex');
const agentId = `test-host/${user}`;
const quarantineRedis = stackRedis('monitor-quarantine', stackEnv('test').AOETL_REDIS_MONITOR_QUARANTINE_PASSWORD);
const access = new RedisAccessControl(quarantineRedis);

beforeAll(async () => {
  await admin.call('ACL', 'SETUSER', user, 'on', `>${password}`, 'resetkeys', '-@all', '+ping', '+auth', '+hello');
});
afterAll(async () => {
  await admin.call('ACL', 'DELUSER', user);
  await access.deleteRecord(agentId);
  await access.clearViolations(agentId);
  await admin.hdel('aoetl:quarantine:identities', agentId);
  quarantineRedis.disconnect();
  admin.disconnect();
});

test('a user switched off cannot log in, its open connections are closed, and it logs in again once switched on', async () => {
  const open = stackRedis(user, password, { clientCert: 'admin' });
  await expect(open.call('PING')).resolves.toBe('PONG');
  expect(await access.userEnabled(user)).toBe(true);

  expect(await access.disableUser(user)).toBe(true);
  expect(await access.userEnabled(user)).toBe(false);
  expect(await access.killConnections(user)).toBeGreaterThanOrEqual(1);
  open.disconnect();
  const refused = stackRedis(user, password, { clientCert: 'admin', retryStrategy: () => null });
  await expect(refused.call('PING')).rejects.toThrow(/WRONGPASS|disabled/);
  refused.disconnect();

  expect(await access.enableUser(user)).toBe(true);
  const back = stackRedis(user, password, { clientCert: 'admin' });
  await expect(back.call('PING')).resolves.toBe('PONG');
  back.disconnect();
  expect(await access.disableUser('aoetl-test-no-such-user')).toBe(false);
});

test('violations count once per event in a sliding window; records are claimed once', async () => {
  const now = Date.now();
  expect(await access.countViolation(agentId, 'e1', now - 90_000, 60_000)).toBe(1);
  expect(await access.countViolation(agentId, 'e2', now, 60_000)).toBe(1); // e1 fell out of the window
  expect(await access.countViolation(agentId, 'e2', now, 60_000)).toBe(1); // redelivered
  expect(await access.countViolation(agentId, 'e3', now, 60_000)).toBe(2);
  expect(await access.violationCount(agentId, now, 60_000)).toBe(2);

  expect(await access.claimRecord(agentId, { status: 'isolating' })).toBe(true);
  expect(await access.claimRecord(agentId, { status: 'isolating' })).toBe(false);
  await access.saveRecord(agentId, { status: 'quarantined' });
  expect((await access.records<{ status: string }>())[agentId]).toEqual({ status: 'quarantined' });
  await access.saveIdentity(agentId, { at: now });
  expect((await access.identities<{ at: number }>())[agentId]).toEqual({ at: now });
});

test('the quarantine user can do nothing else: no keys outside its own, no other admin command', async () => {
  await expect(quarantineRedis.call('GET', 'aoetl:tasks')).rejects.toThrow(/NOPERM/);
  await expect(quarantineRedis.call('XADD', 'aoetl:tasks', '*', 'm', 'x')).rejects.toThrow(/NOPERM/);
  await expect(quarantineRedis.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
  await expect(quarantineRedis.call('CONFIG', 'GET', '*')).rejects.toThrow(/NOPERM/);
  await expect(quarantineRedis.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
});
