/**
 * Alerts and dashboards as code match the metrics: every aoetl_* series named in the chart's PrometheusRule and
 * Grafana dashboard JSON is on a live /metrics of the running services (a histogram's _bucket/_sum/_count by its
 * histogram), and every alert has its runbook in docs/operations/runbooks/<alert>.md, linked from the rule.
 * (`up` is Prometheus' own series, not the services'.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '@aoetl/testing';

const METRICS_PORTS = { 'agent-gateway': 9101, orchestrator: 9102, 'etl-agent': 9103, monitor: 9104 };
const RULES = join(REPO, 'helm', 'aoetl', 'templates', 'prometheusrule.yaml');
const DASHBOARDS = join(REPO, 'helm', 'aoetl', 'files', 'dashboards');
const SERIES = /\baoetl_[a-z0-9_]+/g;

function usedSeries(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const add = (text: string, where: string) => {
    for (const name of text.match(SERIES) ?? []) used.set(name, [...(used.get(name) ?? []), where]);
  };
  // The template's comments are not rules.
  add(readFileSync(RULES, 'utf8').replace(/\{\{-? *\/\*[\s\S]*?\*\/ *-?\}\}/g, ''), 'prometheusrule.yaml');
  for (const f of readdirSync(DASHBOARDS).filter((n) => n.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as unknown;
    const exprs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'expr' && typeof x === 'string') exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dashboard);
    for (const e of exprs) add(e, f);
  }
  return used;
}

/** name -> type for every metric the four services expose right now. */
async function liveTypes(): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  for (const [service, port] of Object.entries(METRICS_PORTS)) {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect([service, res.status]).toEqual([service, 200]);
    for (const m of (await res.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  }
  return types;
}

test('every aoetl_* series of the PrometheusRule and the Grafana dashboards is on a live /metrics', async () => {
  const used = usedSeries();
  expect(used.size).toBeGreaterThanOrEqual(8);
  const types = await liveTypes();
  const missing: string[] = [];
  for (const [name, where] of used) {
    const histogram = /_(bucket|sum|count)$/.exec(name) && types.get(name.replace(/_(bucket|sum|count)$/, '')) === 'histogram';
    if (!types.has(name) && !histogram) missing.push(`${name} (used in ${[...new Set(where)].join(', ')})`);
  }
  expect(missing).toEqual([]);
});

test('every alert has a runbook in docs/operations/runbooks, named in the rule', () => {
  const rules = readFileSync(RULES, 'utf8');
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
  expect(alerts.length).toBeGreaterThanOrEqual(4);
  for (const alert of alerts) {
    const file = join(REPO, 'docs', 'operations', 'runbooks', `${alert}.md`);
    expect([alert, existsSync(file)]).toEqual([alert, true]);
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^# ${alert}\\b`));
    const block = rules.slice(rules.indexOf(`- alert: ${alert}`)).split('- alert:')[1]!;
    expect(block).toContain(`runbooks/${alert}.md`);
  }
});
