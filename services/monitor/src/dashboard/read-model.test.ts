import { fillBuckets } from './read-model';

describe('overview buckets', () => {
  test('every bucket of the window is there, oldest first, with zeros where nothing happened', () => {
    const now = Date.parse('2026-01-01T10:30:30Z');
    const t = Date.parse('2026-01-01T10:28:00Z') / 1000;
    const out = fillBuckets([{ t, submitted: 2, succeeded: 1, failed: 1, rowsPerSecond: 5 }], 5, 60, now);
    expect(out.map((b) => new Date(b.t * 1000).toISOString().slice(11, 16))).toEqual(['10:25', '10:26', '10:27', '10:28', '10:29', '10:30']);
    expect(out[3]).toEqual({ t, submitted: 2, succeeded: 1, failed: 1, rowsPerSecond: 5 });
    expect(out.filter((b) => b.submitted === 0)).toHaveLength(5);
  });
});
