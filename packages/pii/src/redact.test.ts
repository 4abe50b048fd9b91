import { redactValues } from './redact.js';

describe('redactValues', () => {
  test.each([
    ['invalid input syntax for type bigint: "alice@example.com"', 'invalid input syntax for type bigint: <text:17>'],
    ["ValueError: invalid literal for int() with base 10: 'bob smith'", 'ValueError: invalid literal for int() with base 10: <text:9>'],
    ["KeyError: 'it\\'s'", 'KeyError: <text:5>'],
    ['value "a""b" is out of range', 'value <text:4> is out of range'],
    ['Key (email)=(carol@example.org) already exists.', 'Key (email)=(<text:17>) already exists.'],
    ['could not parse row 3: carol@example.org has 2 fields', 'could not parse row 3: <email:17> has 2 fields'],
    ['card 4111 1111 1111 1111 refused', 'card <card:19> refused'],
  ])('%s', (raw, expected) => {
    expect(redactValues(raw)).toBe(expected);
  });

  test('no value of the message survives, whatever its quoting', () => {
    const raw = `TypeError: bad row {'email': 'dave@example.net', "name": "Dave O'Brien"} at +44 20 7946 0958`;
    const out = redactValues(raw);
    for (const leaked of ['dave@example.net', 'Dave', 'Brien', '7946']) expect(out).not.toContain(leaked);
    expect(out).toContain('TypeError: bad row');
  });
});
