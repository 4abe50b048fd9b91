import { createLogger } from '@aoetl/observability';
import type { StreamTrimmer } from '@aoetl/bus';
import { TRIMMED_STREAMS, trimLoop } from './trim-loop';

test('trims every stream each round, goes on after a failed trim, and stops when aborted', async () => {
  const trimmed: string[] = [];
  const ac = new AbortController();
  const trimmer: StreamTrimmer = {
    async trim(stream) {
      trimmed.push(stream);
      if (stream === 'aoetl:tasks') throw new Error('NOPERM');
      if (trimmed.length >= 2 * TRIMMED_STREAMS.length) ac.abort();
      return 1;
    },
  };
  const done = trimLoop(trimmer, { everyMs: 10, signal: ac.signal, logger: createLogger({ name: 'test', level: 'silent' }) });
  await done;
  expect(trimmed).toEqual([...TRIMMED_STREAMS, ...TRIMMED_STREAMS]);
  expect(TRIMMED_STREAMS).not.toContain('aoetl:deadletter');
});
