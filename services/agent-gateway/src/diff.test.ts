import { unifiedDiff } from './diff.js';

describe('unifiedDiff', () => {
  it('counts added and deleted lines and writes a unified diff', () => {
    const d = unifiedDiff('v1', 'v2', 'a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(d).toMatchObject({ additions: 2, deletions: 1 });
    expect(d.unified).toContain('--- v1');
    expect(d.unified).toContain('+++ v2');
    expect(d.unified).toMatch(/^-b$/m);
    expect(d.unified).toMatch(/^\+B$/m);
  });

  it('is empty for identical texts, and all additions against nothing', () => {
    expect(unifiedDiff('v1', 'v1', 'x\n', 'x\n')).toEqual({ unified: '', additions: 0, deletions: 0 });
    expect(unifiedDiff('/dev/null', 'v1', '', 'x\ny\n')).toMatchObject({ additions: 2, deletions: 0 });
  });

  it('stays fast on hostile inputs (64 KiB of distinct short lines), falling back to a whole replacement', () => {
    const before = Array.from({ length: 16_000 }, (_, i) => `a${i}`).join('\n');
    const after = Array.from({ length: 16_000 }, (_, i) => `b${i}`).join('\n');
    const started = Date.now();
    const d = unifiedDiff('v1', 'v2', before, after);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(d).toMatchObject({ additions: 16_000, deletions: 16_000 });
  });
});
