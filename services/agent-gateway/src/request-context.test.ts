import { ConflictError, InputError, NotFoundError } from '@aoetl/contracts';
import { LIST_FIELDS, PIPELINE_BODY_FIELDS, inRequestTerms, withRequestFields } from './request-context.js';

describe('store errors in request terms', () => {
  it('names a domain field by its request path, in the details and in a message that starts with it', () => {
    const domain = new InputError('cursor: not a cursor this list returned', {
      details: [{ field: 'cursor', message: 'is not a cursor this list returned' }],
    });
    const mapped = inRequestTerms(domain, LIST_FIELDS);
    expect(mapped).toBeInstanceOf(InputError);
    expect(mapped).toMatchObject({
      code: 'input',
      message: 'querystring/cursor: not a cursor this list returned',
      details: [{ field: 'querystring/cursor', message: 'is not a cursor this list returned' }],
      cause: domain,
    });
  });

  it('keeps the error class and a message that does not start with the field', () => {
    const mapped = inRequestTerms(
      new ConflictError("a pipeline named 'x' already exists", { details: [{ field: 'name', message: 'taken' }] }),
      PIPELINE_BODY_FIELDS,
    );
    expect(mapped).toBeInstanceOf(ConflictError);
    expect(mapped).toMatchObject({ message: "a pipeline named 'x' already exists", details: [{ field: 'body/name', message: 'taken' }] });
  });

  it('passes unchanged what it has no request path for', () => {
    const unmapped = new InputError('name: too long', { details: [{ field: 'name', message: 'too long' }] });
    const noDetails = new NotFoundError('pipeline not found');
    const plain = new Error('boom');
    expect(inRequestTerms(unmapped, LIST_FIELDS)).toBe(unmapped);
    expect(inRequestTerms(noDetails, LIST_FIELDS)).toBe(noDetails);
    expect(inRequestTerms(plain, LIST_FIELDS)).toBe(plain);
    expect(inRequestTerms(new InputError('x', { details: [{ field: 'toString', message: 'y' }] }), LIST_FIELDS)).toMatchObject({
      details: [{ field: 'toString' }],
    });
  });

  it('withRequestFields returns the result, or rethrows in request terms', async () => {
    await expect(withRequestFields(LIST_FIELDS, async () => 7)).resolves.toBe(7);
    await expect(
      withRequestFields(LIST_FIELDS, async () => {
        throw new InputError('cursor: bad', { details: [{ field: 'cursor', message: 'bad' }] });
      }),
    ).rejects.toMatchObject({ details: [{ field: 'querystring/cursor' }] });
  });
});
