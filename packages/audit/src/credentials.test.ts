import { Value } from '@sinclair/typebox/value';
import { CredentialAudit } from '@aoetl/contracts';
import type { AuditRecord } from '@aoetl/secrets';
import { credentialAuditMessage, credentialLedgerEntry } from './credentials.js';

const runId = '2b1e8f0c-1d2e-4f3a-8b4c-5d6e7f8a9b0c';
const record: AuditRecord = {
  event: 'credential.issued',
  actor: 'host/etl-agent-1',
  path: 'database/creds/warehouse-writer',
  runId,
  leaseId: 'database/creds/warehouse-writer/AbCdEf123',
  username: 'v-approle-warehouse-xyz',
  outcome: 'ok',
  at: '2026-12-02T07:00:00.000Z',
};

describe('credentialAuditMessage', () => {
  it('carries ids and hashes only, and is a valid events-stream message', () => {
    const msg = credentialAuditMessage(record, { requestId: 'r1' })!;
    expect(Value.Check(CredentialAudit, msg)).toBe(true);
    const text = JSON.stringify(msg);
    expect(text).not.toContain('AbCdEf123');
    expect(text).not.toContain('v-approle-warehouse-xyz');
    expect(msg.payload).toMatchObject({ event: 'credential.issued', runId, leaseSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('ignores what is not a credential access of a run', () => {
    expect(credentialAuditMessage({ ...record, event: 'kv.read' }, { requestId: 'r1' })).toBeNull();
    expect(credentialAuditMessage({ ...record, runId: 'not-a-run' }, { requestId: 'r1' })).toBeNull();
    const { runId: _none, ...noRun } = record;
    expect(credentialAuditMessage(noRun, { requestId: 'r1' })).toBeNull();
  });

  it('becomes a ledger entry of the run, keyed by the message id', () => {
    const msg = credentialAuditMessage({ ...record, event: 'credential.revoked' }, { requestId: 'r1' })!;
    expect(credentialLedgerEntry(msg, 'acme')).toEqual({
      tenant: 'acme',
      actor: 'service:etl-agent/host/etl-agent-1',
      action: 'credential.revoked',
      object: `run:${runId}`,
      payload: { path: record.path, leaseSha256: msg.payload.leaseSha256, usernameSha256: msg.payload.usernameSha256, outcome: 'ok', eventId: msg.id },
    });
  });
});
