import { expressionColumns, expressionSql, parseExpression } from './expression';

const sql = (text: string) => {
  const parsed = parseExpression(text);
  if (!parsed.ok) throw new Error(`${parsed.message} at ${parsed.position}`);
  const params: unknown[] = [];
  return { sql: expressionSql(parsed.expr, 's', params), params, columns: expressionColumns(parsed.expr) };
};

describe('assertion expressions', () => {
  test.each([
    ['amount >= 0', '(s."amount" >= 0)'],
    ['amount * qty - 1 <= total / 2', '(((s."amount" * s."qty") - 1) <= (s."total" / 2))'],
    ["status IN ('paid', 'shipped') OR refunded_at IS NOT NULL", '((s."status" IN ($1, $2)) OR (s."refunded_at" IS NOT NULL))'],
    ['NOT (a = 1 AND b <> 2)', '(NOT ((s."a" = 1) AND (s."b" <> 2)))'],
    ['a != 1', '(s."a" <> 1)'],
    ['qty NOT BETWEEN 1 AND 10', '(s."qty" NOT BETWEEN 1 AND 10)'],
    ['(a + 1) * 2 > -b', '(((s."a" + 1) * 2) > (-s."b"))'],
    ['active', 's."active"'],
    ["email IS NULL OR email <> ''", '((s."email" IS NULL) OR (s."email" <> $1))'],
  ])('%s', (text, expected) => {
    expect(sql(text).sql).toBe(expected);
  });

  test('text literals are parameters, never SQL', () => {
    const out = sql("name = 'O''Neil''; DROP TABLE t; --'");
    expect(out.sql).toBe('(s."name" = $1)');
    expect(out.params).toEqual(["O'Neil'; DROP TABLE t; --"]);
    expect(out.columns).toEqual(['name']);
  });

  test.each([
    ['pg_sleep(10) IS NULL', /function calls are not allowed/, 0],
    ["pg_read_file('/etc/passwd') = ''", /function calls/, 0],
    ['amount::text = 1', /unexpected ':'/, 6],
    ['a = 1; DROP TABLE t', /unexpected ';'/, 5],
    ['a = 1 -- comment', /unexpected '-'|unexpected end/, 6],
    ['a = 1 /* x */', /unexpected/, 6],
    ['a IN (SELECT 1)', /subqueries, statements and SELECT are not allowed/, 6],
    ['(SELECT count(*) FROM pg_authid) > 0', /SELECT are not allowed/, 1],
    ['EXISTS (SELECT 1) = true', /EXISTS are not allowed/, 0],
    ["CAST(a AS text) = 'x'", /CAST are not allowed/, 0],
    ['a = $$x$$', /unexpected '\$'/, 4],
    ['a = "b"', /unexpected '"'/, 4],
    ["a = 'open", /unterminated string/, 4],
    ['a = U&\'\\0041\'', /unexpected '&'/, 5],
    ['a =', /unexpected end/, 3],
    ['a NOT 1', /expected IN or BETWEEN/, 6],
    ['a IS 1', /expected NULL/, 5],
    ['AND a = 1', /unexpected AND/, 0],
    ['a = 1 b', /unexpected 'b'/, 6],
    ['a', null, 0],
    ['1', /expected a comparison/, 1],
  ])('refuses %s with the rule and position', (text, rule, position) => {
    const parsed = parseExpression(text);
    if (rule === null) {
      expect(parsed.ok).toBe(true);
      return;
    }
    expect(parsed).toMatchObject({ ok: false, position });
    if (!parsed.ok) expect(parsed.message).toMatch(rule);
  });

  test('bounded: length and nesting', () => {
    expect(parseExpression(`a = ${'1'.repeat(2001)}`)).toMatchObject({ ok: false, message: expect.stringContaining('longer than') });
    expect(parseExpression(`${'NOT '.repeat(60)}a`)).toMatchObject({ ok: false, message: 'nested too deeply' });
  });
});
