import { EXIT, exitCodeForStatus, problemLine } from './errors';

describe('problemLine', () => {
  it('names the detail and the first field', () => {
    const line = problemLine('create pipeline', 400, {
      title: 'Bad Request',
      status: 400,
      detail: 'invalid body',
      errors: [{ field: 'body/target/mode', message: 'must be append, merge or replace' }],
    });
    expect(line).toBe('create pipeline: invalid body (field body/target/mode: must be append, merge or replace)');
  });
  it('falls back to the title, then the status', () => {
    expect(problemLine('get run', 404, { title: 'Not Found' })).toBe('get run: Not Found');
    expect(problemLine('get run', 502, undefined)).toBe('get run: HTTP 502');
  });
});

describe('exitCodeForStatus', () => {
  it.each([
    [400, EXIT.usage],
    [401, EXIT.auth],
    [403, EXIT.forbidden],
    [404, EXIT.notFound],
    [409, EXIT.conflict],
    [503, EXIT.server],
  ])('%i → %i', (status, code) => expect(exitCodeForStatus(status)).toBe(code));
});
