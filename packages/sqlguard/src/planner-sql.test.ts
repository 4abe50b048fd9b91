import { planFromInstruction, sqlFromPlan, type Column } from '@aoetl/codegen';
import { checkQuery, describeRefusal, loadSqlGuard } from './index.js';

/** The offline planner's push-down SQL (`sqlFromPlan`) must pass the guard it would be checked by as a sql transform. */
const COLS: Column[] = [
  { name: 'customer_id', type: 'int8' },
  { name: 'email', type: 'text' },
  { name: 'country', type: 'text' },
  { name: 'lifetime_value', type: 'numeric' },
];
const INSTRUCTIONS = [
  'keep rows where email contains "@" and lifetime_value >= 10',
  'drop rows where lifetime_value < 0',
  'lower-case email, trim country',
  'rename lifetime_value to ltv, then group by country and compute sum(ltv) as total, count(*) as n, then sort by n descending',
  'drop rows where email is null or blank',
  'keep rows where country in ("US", "GB", "DE")',
];

beforeAll(() => loadSqlGuard());

it.each(INSTRUCTIONS)('the planner\'s SQL for "%s" passes the guard', (text) => {
  const planned = planFromInstruction(text, COLS);
  if (!planned.ok) throw new Error(planned.reason);
  const sql = sqlFromPlan(planned.plan, 'crm.customers', COLS);
  expect(sql).not.toBeNull();
  const checked = checkQuery(sql!, { sourceTable: 'crm.customers', allowedSchemas: [] });
  if (!checked.ok) throw new Error(checked.refusals.map(describeRefusal).join('; '));
  expect(checked.relations).toEqual(['crm.customers']);
});
