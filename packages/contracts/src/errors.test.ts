import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AoetlError,
  ConflictError,
  ERROR_CODES,
  InputError,
  UnmappableError,
  InternalError,
  NotAllowedError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
  UpstreamError,
  ConfigError,
  classifyError,
  isRetryable,
} from './errors.js';
import { FAILURE_CODES, FailureReason } from './messages.js';
import { isValid } from './validate.js';

/** What `pg` throws for a server error: a DatabaseError with a severity and a SQLSTATE code. */
const pgError = (code: string, message = 'server said no') => Object.assign(new Error(message), { severity: 'ERROR', code });
/** What Node throws for a failed socket. */
const systemError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.7:5432`), { code, errno: -111, syscall: 'connect' });

describe('error classes', () => {
  it.each([
    [new InputError('x'), 'input', false],
    [new NotFoundError('x'), 'not_found', false],
    [new ConflictError('x'), 'conflict', false],
    [new UnmappableError('x'), 'unmappable', false],
    [new NotAllowedError('x'), 'not_allowed', false],
    [new UnauthorizedError('x'), 'unauthorized', false],
    [new TooManyRequestsError('x'), 'too_many_requests', false],
    [new ConfigError('x'), 'config', false],
    [new UpstreamError('x'), 'upstream', true],
    [new UpstreamError('x', { retryable: false }), 'upstream', false],
    [new InternalError('x'), 'internal', false],
  ])('%p has code %s and retryable %s', (err, code, retryable) => {
    expect(err.code).toBe(code);
    expect(Object.keys(ERROR_CODES)).toContain(code);
    expect(err.retryable).toBe(retryable);
    expect(isRetryable(err)).toBe(retryable);
    expect(err.name).toBe(err.constructor.name);
  });

  it('keeps cause and details', () => {
    const cause = new Error('root');
    const err = new InputError('bad', { cause, details: [{ field: 'name', message: 'is taken' }] });
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual([{ field: 'name', message: 'is taken' }]);
  });

  it('never calls a foreign error retryable', () => {
    expect(isRetryable(new Error('ECONNREFUSED'))).toBe(false);
    expect(isRetryable(systemError('ECONNREFUSED'))).toBe(false);
  });
});

describe('classifyError', () => {
  it('returns an AoetlError as it is', () => {
    const err = new NotFoundError('gone');
    expect(classifyError(err)).toBe(err);
  });

  it.each(['08006', '08001', '40001', '40P01', '53300', '57P01', '57P03'])('SQLSTATE %s is a retryable upstream failure', (code) => {
    const original = pgError(code);
    const typed = classifyError(original);
    expect(typed).toBeInstanceOf(UpstreamError);
    expect(typed.retryable).toBe(true);
    expect(typed.cause).toBe(original);
    expect(typed.message).toBe('server said no');
  });

  it.each(['57014', '23505', '22P02', '42P01', '28P01', '3D000'])('SQLSTATE %s is an upstream failure a retry will not fix', (code) => {
    const typed = classifyError(pgError(code));
    expect(typed).toBeInstanceOf(UpstreamError);
    expect(typed.retryable).toBe(false);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN'])('Node error %s is a retryable upstream failure', (code) => {
    const typed = classifyError(systemError(code));
    expect(typed).toBeInstanceOf(UpstreamError);
    expect(typed.retryable).toBe(true);
  });

  it('reads typed facts, never the message', () => {
    // A message that names every transient failure, on an error that carries none of their facts.
    const typed = classifyError(new Error('ECONNREFUSED ETIMEDOUT Connection terminated unexpectedly 08006'));
    expect(typed).toBeInstanceOf(InternalError);
    expect(typed.retryable).toBe(false);
    // A five-letter Node code is not a SQLSTATE: EPIPE without a Postgres severity is a network failure.
    expect(classifyError(Object.assign(new Error('write'), { code: 'EPIPE' })).retryable).toBe(true);
    expect(classifyError(Object.assign(new Error('x'), { code: 'EPERM' }))).toBeInstanceOf(InternalError);
  });

  it('makes anything else an internal error', () => {
    for (const thrown of ['a string', 42, null, undefined, { message: 'object' }]) {
      const typed = classifyError(thrown);
      expect(typed).toBeInstanceOf(InternalError);
      expect(typed).toBeInstanceOf(AoetlError);
      expect(typed.cause).toBe(thrown);
    }
  });
});

describe('FailureReason.code', () => {
  it('accepts every documented code and nothing else', () => {
    for (const code of Object.keys(FAILURE_CODES)) expect(isValid(FailureReason, { code, message: 'm' })).toBe(true);
    expect(isValid(FailureReason, { code: 'sandbox_crashed', message: 'm' })).toBe(false);
    expect(isValid(FailureReason, { code: '', message: 'm' })).toBe(false);
  });

  it('covers every error code, each documented', () => {
    for (const code of Object.keys(ERROR_CODES)) expect(FAILURE_CODES).toHaveProperty(code);
    for (const description of Object.values(FAILURE_CODES)) expect(description.length).toBeGreaterThan(20);
  });
});

describe('docs/api/README.md', () => {
  it('lists every error code and every run failure code', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/api/README.md'), 'utf8');
    const listed = new Set([...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
    expect([...listed].sort()).toEqual(Object.keys(FAILURE_CODES).sort());
  });
});
