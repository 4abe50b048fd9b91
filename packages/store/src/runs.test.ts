import { storedFailure } from './runs.js';

describe('storedFailure', () => {
  it('passes a reason with a code of the closed set through unchanged', () => {
    const reason = { code: 'transform', message: 'ValueError', pythonType: 'ValueError' };
    expect(storedFailure(reason)).toEqual(reason);
  });

  it('reads a code recorded before the closed set as internal, naming the old code', () => {
    expect(storedFailure({ code: 'extract_failed', message: 'connection refused' })).toEqual({
      code: 'internal',
      message: "(recorded with code 'extract_failed', outside today's set) connection refused",
    });
  });

  it('reads a reason without a code or message as internal', () => {
    expect(storedFailure({})).toEqual({ code: 'internal', message: "(recorded with code 'none', outside today's set) " });
    expect(storedFailure({ code: 'transform' })).toEqual({ code: 'transform', message: '' });
  });

  it('keeps no failure as null', () => {
    expect(storedFailure(null)).toBeNull();
    expect(storedFailure(undefined)).toBeNull();
  });

  it('does not take inherited names for codes', () => {
    expect(storedFailure({ code: 'toString', message: 'm' })?.code).toBe('internal');
  });
});
