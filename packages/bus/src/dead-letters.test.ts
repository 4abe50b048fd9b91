import { deadLetterFields, isReplayable, parseDeadLetter, REPLAYABLE_STREAMS } from './dead-letters';
import { fieldMap } from './fields';

const letter = { stream: 'aoetl:events', group: 'monitor', entry: '1-2', reason: 'message is not JSON', message: '{"v":1' };

describe('dead-letter fields', () => {
  test('what the bus writes reads back as the same dead letter', () => {
    const flat = deadLetterFields(letter);
    expect(fieldMap(flat)).toEqual({ stream: 'aoetl:events', group: 'monitor', entry: '1-2', reason: 'message is not JSON', m: '{"v":1' });
    expect(parseDeadLetter('9-0', flat)).toEqual({ id: '9-0', ...letter });
  });

  test('missing fields read as empty, never as "undefined"', () => {
    expect(parseDeadLetter('9-1', ['stream', 'aoetl:tasks'])).toEqual({ id: '9-1', stream: 'aoetl:tasks', group: '', entry: '', reason: '', message: '' });
  });

  test('only the request, task and event streams are replayable, and only with a message', () => {
    expect([...REPLAYABLE_STREAMS].sort()).toEqual(['aoetl:events', 'aoetl:requests', 'aoetl:tasks']);
    expect(isReplayable({ id: '1-0', ...letter })).toBe(true);
    expect(isReplayable({ id: '1-0', ...letter, message: '' })).toBe(false);
    expect(isReplayable({ id: '1-0', ...letter, stream: 'aoetl:deadletter' })).toBe(false);
    expect(isReplayable({ id: '1-0', ...letter, stream: 'elsewhere' }, new Set(['elsewhere']))).toBe(true);
  });
});
