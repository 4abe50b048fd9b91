import { InputError } from '@aoetl/contracts';
import { compilePlan, planFromInstruction, type Column, type Operation } from './index.js';

const COLS: Column[] = [
  { name: 'id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'name', type: 'text' },
  { name: 'amount', type: 'numeric' },
  { name: 'status', type: 'text' },
  { name: 'phone', type: 'text' },
  { name: 'created_at', type: 'text' },
  { name: 'updated_at', type: 'timestamptz' },
  { name: 'country', type: 'text' },
];

function plan(text: string): Operation[] {
  const r = planFromInstruction(text, COLS);
  if (!r.ok) throw new Error(`refused "${r.clause}": ${r.reason}`);
  return r.plan;
}

function refusal(text: string): { clause: string; reason: string } {
  const r = planFromInstruction(text, COLS);
  if (r.ok) throw new Error(`planned ${JSON.stringify(r.plan)}`);
  return r;
}

describe('planFromInstruction: phrasing variants map to the same plan', () => {
  const variants: [string, string[], Operation[]][] = [
    [
      'filter equals',
      ["keep rows where status = 'active'", 'Only keep the rows whose status is active', 'filter rows where status equals "active"', 'Select records where status is active.'],
      [{ op: 'filter', keep: true, condition: { kind: 'compare', column: 'status', operator: '=', value: 'active', ignoreCase: false } }],
    ],
    [
      'drop by comparison',
      ['remove rows where amount < 0', 'Drop any rows where amount is less than 0', 'exclude records with amount below 0', 'filter out rows where the amount is under 0'],
      [{ op: 'filter', keep: false, condition: { kind: 'compare', column: 'amount', operator: '<', value: 0, ignoreCase: false } }],
    ],
    [
      'in list',
      ["keep rows where country in ('FR', 'DE')", 'keep rows where country is one of FR, DE', 'only rows where country is either FR or DE'],
      [{ op: 'filter', keep: true, condition: { kind: 'in', column: 'country', values: ['FR', 'DE'], negate: false, ignoreCase: false } }],
    ],
    [
      'drop null keys',
      ['drop rows with a missing email', 'Remove records without an email', 'email is required', 'email must not be empty', 'drop rows with no email'],
      [{ op: 'drop_null', columns: ['email'] }],
    ],
    [
      'dedupe',
      [
        'Deduplicate customers by email, case-insensitively, keeping the lowest id',
        'dedupe by email ignoring case, keep the smallest id',
        'Remove duplicates on email (case-insensitive) keeping the row with the lowest id',
      ],
      [{ op: 'dedupe', keys: ['email'], ignoreCase: true, ignoreWhitespace: false, keep: { rule: 'lowest', column: 'id' } }],
    ],
    [
      'dedupe latest',
      ['keep the latest row per email by updated_at', 'one row per email, keeping the most recent updated_at', 'Deduplicate on email and keep the newest updated_at'],
      [{ op: 'dedupe', keys: ['email'], ignoreCase: false, ignoreWhitespace: false, keep: { rule: 'highest', column: 'updated_at' } }],
    ],
    [
      'trim + lower',
      ['Trim and lowercase email', 'trim email, lowercase email', 'strip whitespace from email then lower-case email', 'trim email and make email lowercase'],
      [
        { op: 'text', columns: ['email'], fn: 'trim' },
        { op: 'text', columns: ['email'], fn: 'lower' },
      ],
    ],
    [
      'numeric cast',
      ['cast amount to numeric(12,2)', 'Convert amount to a decimal with 2 decimal places', 'convert amount to numeric with two decimals, nulling values that do not parse'],
      [{ op: 'cast', column: 'amount', to: 'numeric', scale: 2, timezone: 'UTC', dayFirst: null, onError: 'null' }],
    ],
    [
      'timestamp cast with zone',
      ['convert created_at to a timestamp in America/New_York, dropping rows that fail', 'Parse created_at as timestamp assuming America/New_York and drop invalid rows'],
      [{ op: 'cast', column: 'created_at', to: 'timestamp', scale: null, timezone: 'America/New_York', dayFirst: null, onError: 'drop' }],
    ],
    [
      'phone',
      ['normalise phone to E.164 with default country DE', 'Format phone numbers in phone as E164 (default country: Germany)', 'standardize phone to e.164, assuming germany'],
      [{ op: 'phone', column: 'phone', country: 'DE', target: 'phone' }],
    ],
    [
      'fill',
      ["fill nulls in country with 'n/a'", "replace missing country with 'n/a'", "country defaults to 'n/a'", "use 'n/a' when country is missing"],
      [{ op: 'fill_null', column: 'country', value: 'n/a' }],
    ],
    [
      'aggregate',
      ['group by country and compute sum(amount) as total', 'Calculate the total amount as total per country', 'sum of amount as total by country'],
      [{ op: 'aggregate', groupBy: ['country'], measures: [{ fn: 'sum', column: 'amount', as: 'total' }] }],
    ],
    [
      'mask domain',
      ['mask email keeping the domain', 'Obfuscate email, preserving the domain', 'hide email but leave the email domain visible'],
      [{ op: 'mask', column: 'email', style: { kind: 'email_domain' } }],
    ],
  ];
  for (const [title, texts, expected] of variants) {
    it.each(texts)(`${title}: %s`, (text) => {
      expect(plan(text)).toEqual(expected);
    });
  }

  it.each([
    ['Keep rows where status is active or pending', { op: 'filter', keep: true, condition: { kind: 'in', column: 'status', values: ['active', 'pending'], negate: false, ignoreCase: false } }],
    ["Filter out cancelled orders where status is 'cancelled'", { op: 'filter', keep: false, condition: { kind: 'compare', column: 'status', operator: '=', value: 'cancelled', ignoreCase: false } }],
    ['Drop rows whose email is null or empty', { op: 'filter', keep: false, condition: { kind: 'null', column: 'email', negate: false, blank: true } }],
    ['Make amount a numeric with 2 decimals', { op: 'cast', column: 'amount', to: 'numeric', scale: 2, timezone: 'UTC', dayFirst: null, onError: 'null' }],
    ['Hash the email address into email_sha', { op: 'hash', column: 'email', target: 'email_sha' }],
    ['Normalize phone numbers to E.164 using US as the default country', { op: 'phone', column: 'phone', country: 'US', target: 'phone' }],
    ['Order by country, then by amount descending', { op: 'sort', keys: [{ column: 'country', descending: false }, { column: 'amount', descending: true }] }],
    ['sum amount and id per country', { op: 'aggregate', groupBy: ['country'], measures: [{ fn: 'sum', column: 'amount', as: 'sum_amount' }, { fn: 'sum', column: 'id', as: 'sum_id' }] }],
    ['Group by country: count(*) as n, max(amount) as top', { op: 'aggregate', groupBy: ['country'], measures: [{ fn: 'count', column: null, as: 'n' }, { fn: 'max', column: 'amount', as: 'top' }] }],
  ])('%s', (text, op) => {
    expect(plan(text)).toEqual([op]);
  });

  it('"it" refers to the columns of the previous step', () => {
    expect(plan('Uppercase country and trim it')).toEqual([
      { op: 'text', columns: ['country'], fn: 'upper' },
      { op: 'text', columns: ['country'], fn: 'trim' },
    ]);
  });

  it('splits sequences on sentences, "then", commas and "and"', () => {
    const ops = plan('Trim name. Then drop the phone column; rename name to full_name, and sort by id descending');
    expect(ops.map((o) => o.op)).toEqual(['text', 'drop', 'rename', 'sort']);
  });

  it('keeps quoted values whole, even with separators and keywords inside', () => {
    expect(plan("keep rows where name = 'Smith, then Jones and co.'")).toEqual([
      { op: 'filter', keep: true, condition: { kind: 'compare', column: 'name', operator: '=', value: 'Smith, then Jones and co.', ignoreCase: false } },
    ]);
  });

  it('resolves column names case-insensitively, in quotes and with spaces for underscores', () => {
    expect(plan('lowercase the "Email" column and uppercase `country`').map((o) => (o.op === 'text' ? o.columns : []))).toEqual([['email'], ['country']]);
    expect(plan('drop rows with a missing created at')).toEqual([{ op: 'drop_null', columns: ['created_at'] }]);
  });

  it('tracks the schema through the plan (a renamed column is known by its new name)', () => {
    const r = planFromInstruction('rename email to contact, then lowercase contact', COLS);
    expect(r.ok && r.outputColumns.map((c) => c.name)).toEqual(['id', 'contact', 'name', 'amount', 'status', 'phone', 'created_at', 'updated_at', 'country']);
    expect(refusal('rename email to contact, then lowercase email').reason).toMatch(/unknown column "email"/);
  });
});

describe('planFromInstruction: refusals name the clause', () => {
  it.each([
    ['Trim name and then join with the orders table', 'join with the orders table'],
    ['pivot status into columns', 'pivot status into columns'],
    ['keep rows where amount is roughly 10', 'keep rows where amount is roughly 10'],
    ['lowercase emial', 'lowercase emial'],
    ['Deduplicate by email, keeping the lowest idd', 'Deduplicate by email, keeping the lowest idd'],
    ['normalise phone to E.164 with default country Brazil', 'normalise phone to E.164 with default country Brazil'],
    ['convert amount to integer, rounding up', 'rounding up'],
    ['count distinct email per country', 'count distinct email per country'],
    ['Remove rows where the email is not valid', 'Remove rows where the email is not valid'],
    ['keep rows where status is on hold', 'keep rows where status is on hold'],
    ['keep rows where name is country', 'keep rows where name is country'],
  ])('%s', (text, clause) => {
    expect(refusal(text).clause).toBe(clause);
  });

  it('names the unknown column', () => {
    expect(refusal('uppercase the product_code').reason).toMatch(/unknown column "product_code"/);
  });

  it('throws InputError for duplicate input column names', () => {
    expect(() => planFromInstruction('trim a', [{ name: 'a', type: 'text' }, { name: 'a', type: 'text' }])).toThrow(InputError);
  });

  it('refuses empty and over-long instructions', () => {
    expect(refusal('   ').reason).toMatch(/empty/);
    expect(refusal('trim name. '.repeat(500)).reason).toMatch(/longer than 4096/);
  });
});

describe('compilePlan', () => {
  it('is deterministic and declares OUTPUT_COLUMNS', () => {
    const ops = plan('trim email, dedupe by email keeping the last, hash email into h, keep id and h');
    const a = compilePlan(ops, COLS);
    expect(compilePlan(JSON.parse(JSON.stringify(ops)) as Operation[], COLS).code).toBe(a.code);
    expect(a.code).toContain('OUTPUT_COLUMNS = ["id", "h"]');
    expect(a.outputColumns).toEqual([{ name: 'id', type: 'int8' }, { name: 'h', type: 'text' }]);
  });

  it('emits only the imports the plan needs', () => {
    expect(compilePlan(plan('keep id and name'), COLS).code).not.toMatch(/^import /m);
    expect(compilePlan(plan('hash email'), COLS).code).toMatch(/^import hashlib$/m);
    expect(compilePlan(plan('convert created_at to timestamp in Europe/Paris'), COLS).code).toMatch(/^import zoneinfo$/m);
  });

  it('throws InputError for a plan that reads a missing column or creates one twice', () => {
    expect(() => compilePlan([{ op: 'select', columns: ['nope'] }], COLS)).toThrow(InputError);
    expect(() => compilePlan([{ op: 'concat', columns: ['name', 'email'], separator: ' ', target: 'id' }], COLS)).toThrow(/already exists/);
  });
});
