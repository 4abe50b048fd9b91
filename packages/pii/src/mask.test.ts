import { isIPv4, isIPv6 } from 'node:net';
import { findPii, ibanRemainder, kindOfColumn, luhnValid } from './detect';
import { maskSample, scrubText, type SampleColumn } from './mask';

const columns: SampleColumn[] = [
  { name: 'id', type: 'int4' },
  { name: 'first_name', type: 'text' },
  { name: 'lastName', type: 'text' },
  { name: 'full_name', type: 'text' },
  { name: 'email', type: 'text' },
  { name: 'phone', type: 'text' },
  { name: 'iban', type: 'text' },
  { name: 'card', type: 'text' },
  { name: 'ip', type: 'text' },
  { name: 'ssn', type: 'text' },
  { name: 'street', type: 'text' },
  { name: 'city', type: 'text' },
  { name: 'zip', type: 'text' },
  { name: 'notes', type: 'text' },
  { name: 'amount', type: 'numeric' },
  { name: 'signup', type: 'date' },
  { name: 'status', type: 'text' },
];

const rows = [
  {
    id: 1, first_name: 'Jürgen', lastName: "O'Neil", full_name: 'Maria Garcia Lopez', email: 'Alice.Smith@corp.com',
    phone: '+44 20 7946 0958', iban: 'GB82 WEST 1234 5698 7654 32', card: '4111 1111 1111 1111', ip: '10.1.2.3',
    ssn: '123-45-6789', street: '221B Baker Street', city: 'Springfield', zip: '90210',
    notes: 'Call +1 (555) 010-9999 or mail jane.doe@mailbox.org; IBAN DE89 3704 0044 0532 0130 00, host 2001:4860:4860::8888',
    amount: '12.50', signup: '2024-01-15', status: 'active',
  },
  {
    id: 2, first_name: 'JÜRGEN', lastName: 'Okafor', full_name: 'maria  garcia lopez', email: ' alice.smith@CORP.com ',
    phone: '(555) 123-4567', iban: 'DE89370400440532013000', card: '5500-0000-0000-0004', ip: 'fe80::1ff:fe23:4567:890a',
    ssn: '987654321012', street: '1600 Amphitheatre Parkway', city: 'Mountain View', zip: '94043',
    notes: 'paid with 4012888888881881 from 172.16.254.1 at 2024-01-15 10:30:00', amount: '7.00', signup: '2024-02-29',
    status: 'active',
  },
  {
    id: 3, first_name: null, lastName: 'Okafor', full_name: '', email: 'ALICE.SMITH@CORP.COM', phone: '+15551234567',
    iban: 'GB82WEST12345698765432', card: '4111111111111111', ip: '10.1.2.3', ssn: '123-45-6789', street: null,
    city: 'Springfield', zip: 90210, notes: 'nothing personal here', amount: '0.99', signup: null, status: 'inactive',
  },
];

/** Every raw personal value of the sample, and its separator-free spelling where it has separators. */
const RAW_PII = [
  'Jürgen', "O'Neil", 'Okafor', 'Maria Garcia Lopez', 'Garcia', 'Lopez', 'Alice.Smith@corp.com', 'alice.smith', 'corp.com',
  '+44 20 7946 0958', '7946 0958', '(555) 123-4567', '5551234567', 'GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432',
  'DE89370400440532013000', 'DE89 3704 0044 0532 0130 00', '4111 1111 1111 1111', '4111111111111111', '5500-0000-0000-0004',
  '5500000000000004', '4012888888881881', '10.1.2.3', 'fe80::1ff:fe23:4567:890a', '172.16.254.1', '2001:4860:4860::8888',
  '123-45-6789', '123456789', '987654321012', '221B Baker Street', 'Baker', '1600 Amphitheatre Parkway', 'Amphitheatre',
  'Springfield', 'Mountain View', '90210', '94043', '+1 (555) 010-9999', '5550109999', 'jane.doe@mailbox.org', 'mailbox.org',
];

const masked = maskSample(columns, rows);
const out = JSON.stringify(masked);

describe('maskSample', () => {
  it('lets no raw personal value through, in the rows or the report', () => {
    const lower = out.toLowerCase();
    const survivors = RAW_PII.filter((v) => lower.includes(v.toLowerCase()));
    expect(survivors).toEqual([]);
  });

  it('keeps the shape: emails stay emails, digits stay digits of the same length, separators and case stay', () => {
    const [a, b, c] = masked.rows as Record<string, unknown>[];
    expect(a!.email).toMatch(/^user\d+@example\.invalid$/);
    expect(String(a!.phone)).toMatch(/^\+\d\d \d\d \d{4} \d{4}$/);
    expect(String(b!.phone)).toMatch(/^\(\d{3}\) \d{3}-\d{4}$/);
    expect(String(a!.ssn)).toMatch(/^\d{3}-\d{2}-\d{4}$/);
    expect(String(b!.ssn)).toMatch(/^\d{12}$/);
    expect(String(a!.card)).toMatch(/^\d{4} \d{4} \d{4} \d{4}$/);
    expect(luhnValid(String(a!.card).replace(/\D/g, ''))).toBe(true);
    expect(luhnValid(String(b!.card).replace(/\D/g, ''))).toBe(true);
    expect(String(a!.iban)).toMatch(/^GB\d\d [A-Z]{4} \d{4} \d{4} \d{4} \d\d$/);
    expect(ibanRemainder(String(a!.iban).replace(/ /g, ''))).toBe(1);
    expect(ibanRemainder(String(b!.iban))).toBe(1);
    expect(isIPv4(String(a!.ip))).toBe(true);
    expect(isIPv6(String(b!.ip))).toBe(true);
    expect(String(a!.first_name)).toMatch(/^[A-Z][a-z]{5}$/);
    expect(String(a!.street)).toMatch(/^\d{3}[A-Z] [A-Z][a-z]{4} [A-Z][a-z]{5}$/);
    expect(String(a!.zip)).toMatch(/^\d{5}$/);
    expect(typeof c!.zip).toBe('number');
    expect(String(c!.zip)).toMatch(/^[1-9]\d{4}$/);
  });

  it('gives one value one placeholder in the sample, up to case, spacing and separators', () => {
    const [a, b, c] = masked.rows as Record<string, unknown>[];
    expect(String(b!.email).trim().toLowerCase()).toBe(String(a!.email));
    expect(String(b!.email)).toMatch(/^ .+ $/);
    expect(c!.email).toBe(String(a!.email).toUpperCase());
    expect(String(b!.first_name)).toBe(String(a!.first_name).toUpperCase());
    expect(String(b!.full_name).replace(/\s+/g, ' ')).toBe(String(a!.full_name).toLowerCase());
    expect(c!.lastName).toBe(b!.lastName);
    expect(c!.iban).toBe(String(a!.iban).replace(/ /g, ''));
    expect(c!.card).toBe(String(a!.card).replace(/ /g, ''));
    expect(c!.ip).toBe(a!.ip);
    expect(c!.ssn).toBe(a!.ssn);
    expect(a!.email).not.toBe(c!.notes);
    expect(new Set([a!.city, b!.city]).size).toBe(2);
    expect(c!.city).toBe(a!.city);
  });

  it('leaves what is not personal alone: ids, amounts, dates, timestamps, statuses, nulls, empty strings', () => {
    const [a, b, c] = masked.rows as Record<string, unknown>[];
    expect([a!.id, a!.amount, a!.signup, a!.status]).toEqual([1, '12.50', '2024-01-15', 'active']);
    expect(String(b!.notes)).toMatch(/ at 2024-01-15 10:30:00$/);
    expect(String(b!.notes)).toMatch(/^paid with \d{16} from \d+\.\d+\.\d+\.\d+ at/);
    expect([c!.first_name, c!.full_name, c!.street, c!.notes, c!.signup]).toEqual([null, '', null, 'nothing personal here', null]);
  });

  it('reports counts and kinds per column', () => {
    const byColumn = Object.fromEntries(masked.report.map((r) => [r.column, r]));
    expect(byColumn.email).toEqual({ column: 'email', semanticKind: 'email', maskedValues: 3, kinds: { email: 3 } });
    expect(byColumn.first_name).toEqual({ column: 'first_name', semanticKind: 'person_name', maskedValues: 2, kinds: { person_name: 2 } });
    expect(byColumn.ssn!.kinds).toEqual({ national_id: 3 });
    expect(byColumn.ip!.kinds).toEqual({ ipv4: 2, ipv6: 1 });
    expect(byColumn.notes).toEqual({
      column: 'notes', maskedValues: 2, kinds: { phone: 1, email: 1, iban: 1, ipv6: 1, card: 1, ipv4: 1 },
    });
    expect(byColumn.amount).toEqual({ column: 'amount', maskedValues: 0, kinds: {} });
    expect(byColumn.zip!.maskedValues).toBe(3);
  });

  it('masks by shape a value of a named column that is not of the named kind', () => {
    const { rows: [row] } = maskSample([{ name: 'email' }, { name: 'ip' }], [{ email: 'n/a', ip: 'Unknown' }]);
    expect(row!.email).toMatch(/^[a-z]\/[a-z]$/);
    expect(row!.ip).toMatch(/^[A-Z][a-z]{6}$/);
  });

  it('is deterministic (the prompt hash of a sample is stable)', () => {
    expect(JSON.stringify(maskSample(columns, rows))).toBe(out);
  });
});

describe('detection', () => {
  it('checks IBANs by mod 97 and cards by Luhn', () => {
    expect(findPii('GB82 WEST 1234 5698 7654 32').map((m) => m.kind)).toEqual(['iban']);
    expect(findPii('GB82 WEST 1234 5698 7654 33').some((m) => m.kind === 'iban')).toBe(false);
    expect(findPii('4111111111111111').map((m) => m.kind)).toEqual(['card']);
    expect(findPii('4111111111111112').map((m) => m.kind)).toEqual(['national_id']);
  });

  it('does not take dates, times, decimals or short numbers for phone numbers', () => {
    expect(findPii('on 2024-01-15 10:30:00 we paid 1234.56 for 3 items, order 42-17, v1.2')).toEqual([]);
  });

  it('reads column names for the kinds values cannot show', () => {
    expect(['first_name', 'FullName', 'customer_name', 'surname'].map(kindOfColumn)).toEqual(Array(4).fill('person_name'));
    expect(['street', 'address_line1', 'city', 'zip', 'postal_code'].map(kindOfColumn)).toEqual(Array(5).fill('address'));
    expect(['product_name', 'amount', 'status', 'zipper_count', 'description'].map(kindOfColumn)).toEqual(Array(5).fill(undefined));
    expect([kindOfColumn('mobile_phone'), kindOfColumn('ssn'), kindOfColumn('e_mail')]).toEqual(['phone', 'national_id', 'email']);
  });
});

describe('scrubText', () => {
  it('masks personal data inside a message and keeps the rest', () => {
    const text = 'duplicate key (email)=(bob@corp.example.com) from 10.9.8.7; card 5500 0000 0000 0004, phone +49 30 901820';
    const scrubbed = scrubText(text);
    for (const raw of ['bob@corp.example.com', '10.9.8.7', '5500 0000 0000 0004', '+49 30 901820']) expect(scrubbed).not.toContain(raw);
    expect(scrubbed).toMatch(/^duplicate key \(email\)=\(user1@example\.invalid\) from 192\.0\.2\.1; card \d{4} \d{4} \d{4} \d{4}, phone \+\d\d \d\d \d{6}$/);
  });
});

describe('maskSample on generated data', () => {
  // A seeded generator: the same 300 rows every run.
  let state = 12345;
  const rand = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
  const digits = (n: number) => Array.from({ length: n }, () => String(rand(10))).join('');
  const word = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + rand(26))).join('');
  const card = () => {
    const body = `4${digits(14)}`;
    const check = [...Array(10).keys()].find((d) => luhnValid(body + String(d)))!;
    return `${body}${check}`.replace(/(\d{4})(?=\d)/g, '$1 ');
  };
  const iban = () => {
    const bban = digits(18);
    const check = String(98 - ibanRemainder(`DE00${bban}`)).padStart(2, '0');
    return `DE${check}${bban}`;
  };
  const generated = Array.from({ length: 300 }, (_, i) => ({
    id: i,
    customer_name: `${word(6)} ${word(8)}`,
    email: `${word(5)}.${word(7)}@${word(6)}.com`,
    phone: `+${1 + rand(98)} ${digits(3)} ${digits(3)} ${digits(4)}`,
    card: card(),
    iban: iban(),
    ip: `${1 + rand(223)}.${rand(256)}.${rand(256)}.${1 + rand(254)}`,
    remark: `ssn ${digits(3)}-${digits(2)}-${digits(4)} noted`,
  }));
  const cols = Object.keys(generated[0]!).map((name) => ({ name }));

  it('lets no generated personal value through', () => {
    const text = JSON.stringify(maskSample(cols, generated)).toLowerCase();
    const raw = generated.flatMap((r) => [r.customer_name, r.email, r.phone, r.card, r.card.replace(/ /g, ''), r.iban, r.ip, r.remark.slice(4, 15)]);
    expect(raw.filter((v) => text.includes(v.toLowerCase()))).toEqual([]);
  });
});
