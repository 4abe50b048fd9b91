import { InputError } from '@aoetl/contracts';
import { MAX_PAGE_SIZE, decodeCursor, encodeCursor, pageSize, toPage } from './pages.js';

describe('pagination', () => {
  it('decodes the cursors it encodes', () => {
    const key = ['1733100000000123', '0b3c1f6e-7c43-4c7a-9d2a-6f1e2d3c4b5a'];
    expect(decodeCursor(encodeCursor(key), ['micros', 'uuid'])).toEqual(key);
    expect(decodeCursor(encodeCursor([42]), ['int'])).toEqual([42]);
    expect(decodeCursor(undefined, ['int'])).toBeNull();
  });

  it.each([
    ['not base64 JSON', 'bm90LWEtY3Vyc29y'],
    ['the wrong shape', encodeCursor(['x'])],
    ['a part of the wrong kind', encodeCursor(['12', 'not-a-uuid'])],
  ])('refuses %s with an InputError naming the domain field `cursor`', (_what, cursor) => {
    let thrown: unknown;
    try {
      decodeCursor(cursor, ['micros', 'uuid']);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect(thrown).toMatchObject({ details: [{ field: 'cursor' }] });
    expect((thrown as InputError).message).not.toMatch(/querystring|body\//);
  });

  it('bounds the page size', () => {
    expect([pageSize(0), pageSize(-5), pageSize(2.9), pageSize(1000)]).toEqual([1, 1, 2, MAX_PAGE_SIZE]);
  });

  it('keeps `limit` rows and a cursor to the last one kept when there are more', () => {
    const rows = [{ n: 3 }, { n: 2 }, { n: 1 }];
    const page = toPage(rows, 2, (r) => r.n, (r) => [r.n as number]);
    expect(page.items).toEqual([3, 2]);
    expect(decodeCursor(page.nextCursor!, ['int'])).toEqual([2]);
    expect(toPage(rows, 3, (r) => r.n, (r) => [r.n as number]).nextCursor).toBeNull();
  });
});
