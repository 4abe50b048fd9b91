import { failureView } from './failure-view.js';

describe('failureView', () => {
  const failure = {
    code: 'quality_check_failed',
    message: 'check email_unique failed: duplicate "alice@example.com"',
    traceback: 'Traceback: alice@example.com',
    checks: [
      { name: 'email_unique', passed: false, observed: 2, examples: ['alice@example.com'] },
      { name: 'id_not_null', passed: true, observed: 0 },
    ],
  };

  it('gives readers counts and settings of the checks, no offending values, no traceback', () => {
    const view = failureView(failure, 'reader');
    expect(view.traceback).toBeUndefined();
    expect(view.checks).toEqual([
      { name: 'email_unique', passed: false, observed: 2 },
      { name: 'id_not_null', passed: true, observed: 0 },
    ]);
    expect(JSON.stringify(view)).not.toContain('alice@example.com');
  });

  it('gives admins the offending values with personal data masked', () => {
    const view = failureView(failure, 'admin');
    expect(view.checks?.[0]?.examples).toHaveLength(1);
    expect(view.checks?.[0]?.examples?.[0]).not.toContain('alice@example.com');
    expect(view.traceback).toBeDefined();
    expect(JSON.stringify(view)).not.toContain('alice@example.com');
  });

  it('adds no checks field to a failure without checks', () => {
    expect(failureView({ code: 'transform', message: 'boom' }, 'reader')).toEqual({ code: 'transform', message: 'boom' });
  });
});
