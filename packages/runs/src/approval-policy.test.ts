import type { StoredPipelineSpec } from '@aoetl/store';
import { changeNeedsApproval, runNeedsApproval } from './approval-policy.js';

const base: StoredPipelineSpec = {
  name: 'p',
  source: { connection: 'crm', table: 'crm.customers' },
  target: { connection: 'warehouse', table: 'silver.customers', mode: 'append' },
  transform: { kind: 'python', code: 'def transform(rows):\n    return rows\n' },
};
const withTarget = (target: Partial<StoredPipelineSpec['target']>, extra: Partial<StoredPipelineSpec> = {}): StoredPipelineSpec => ({
  ...base,
  ...extra,
  target: { ...base.target, ...target },
});
const asking = { approval: { required: true } };

describe('changeNeedsApproval', () => {
  it('flags every version of a pipeline that asks for approval, and no new pipeline that does not', () => {
    expect(changeNeedsApproval(null, { ...base, ...asking }, [])).toBe(true);
    expect(changeNeedsApproval(base, { ...base, ...asking }, [])).toBe(true);
    expect(changeNeedsApproval(null, base, ['replace'])).toBe(false);
  });

  it('with approvals enabled by the policy, flags a switch to replace and any target change, not a code change', () => {
    const policy = ['merge'] as const;
    expect(changeNeedsApproval(base, withTarget({ mode: 'replace' }), policy)).toBe(true);
    expect(changeNeedsApproval(base, withTarget({ table: 'silver.other' }), policy)).toBe(true);
    expect(changeNeedsApproval(base, withTarget({ connection: 'other' }), policy)).toBe(true);
    expect(changeNeedsApproval(base, withTarget({ keys: ['email'] }), policy)).toBe(true);
    expect(changeNeedsApproval(base, { ...base, transform: { kind: 'python', code: 'x = 1\n' } }, policy)).toBe(false);
    expect(changeNeedsApproval(withTarget({ mode: 'replace' }), withTarget({ mode: 'replace' }), policy)).toBe(false);
  });

  it('flags turning the approval setting off, together with whatever else that change does', () => {
    expect(changeNeedsApproval({ ...base, ...asking }, withTarget({ mode: 'replace' }), [])).toBe(true);
    expect(changeNeedsApproval({ ...base, ...asking }, base, [])).toBe(true);
  });

  it('flags nothing when approvals are not enabled at all', () => {
    expect(changeNeedsApproval(base, withTarget({ mode: 'replace', table: 'silver.other' }), [])).toBe(false);
  });
});

describe('runNeedsApproval', () => {
  it('follows the version\'s flag, the spec\'s setting and the policy\'s write modes', () => {
    expect(runNeedsApproval({ approvalRequired: true, spec: base }, [])).toBe(true);
    expect(runNeedsApproval({ approvalRequired: false, spec: { ...base, ...asking } }, [])).toBe(true);
    expect(runNeedsApproval({ approvalRequired: false, spec: base }, ['append'])).toBe(true);
    expect(runNeedsApproval({ approvalRequired: false, spec: base }, ['replace'])).toBe(false);
  });
});
