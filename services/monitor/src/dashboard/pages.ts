import type { GroupStats } from '@aoetl/bus';
import type { AgentView } from './agents.js';
import type { Overview, RunDetail, RunRow } from './read-model.js';

/** Escapes text for HTML element content and quoted attribute values. */
export const esc = (v: string | number | boolean | null | undefined): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON for a `<script type="application/json">` block: nothing in it can close the element. */
const jsonBlock = (id: string, value: unknown): string =>
  `<script type="application/json" id="${id}">${JSON.stringify(value).replace(/</g, '\\u003c')}</script>`;

export interface Viewer {
  name: string;
  tenant: string;
  sre: boolean;
  csrf: string;
}

const NAV: { path: string; label: string; sreOnly?: boolean }[] = [
  { path: '/', label: 'Overview' },
  { path: '/runs', label: 'Runs' },
  { path: '/agents', label: 'Agents', sreOnly: true },
  { path: '/streams', label: 'Streams', sreOnly: true },
  { path: '/violations', label: 'Sandbox violations' },
  { path: '/models', label: 'Model usage' },
];

/** Names the dependencies that could not be read, so a page says what is down instead of showing nothing. */
export const outage = (problems: string[]): string =>
  problems.length === 0 ? '' : `<div class="outage" role="alert"><strong>Some data is unavailable.</strong><ul>${problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></div>`;

export function layout(viewer: Viewer, current: string, title: string, body: string): string {
  const nav = NAV.filter((n) => !n.sreOnly || viewer.sre)
    .map((n) => `<li><a href="${n.path}"${n.path === current ? ' aria-current="page"' : ''}>${esc(n.label)}</a></li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="${esc(viewer.csrf)}">
<title>${esc(title)} · aoetl monitor</title>
<link rel="stylesheet" href="/assets/uPlot.min.css"><link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/uPlot.iife.min.js" defer></script><script src="/assets/dashboard.js" defer></script>
</head><body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">aoetl monitor</span>
<nav aria-label="Dashboard sections"><ul>${nav}</ul></nav>
<div class="who">Signed in as <strong id="viewer">${esc(viewer.name)}</strong> (${viewer.sre ? 'SRE, all tenants' : `tenant ${esc(viewer.tenant)}`})
<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${esc(viewer.csrf)}"><button type="submit">Log out</button></form></div>
</header>
<main id="main" tabindex="-1"><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

const fmtSeconds = (s: number | null): string => (s === null ? '—' : s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
const fmtTime = (iso: string | null): string => (iso ? `<time datetime="${esc(iso)}">${esc(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time>` : '—');
const statusCell = (status: string): string => `<span class="status s-${esc(status)}">${esc(status)}</span>`;
const reason = (r: RunRow): string => (r.error ? `${esc(r.error.code)}: ${esc(r.error.message)}` : '');

export function overviewPage(o: Overview): string {
  const totals = Object.entries(o.totals);
  const finished = o.series.reduce((n, b) => n + b.succeeded + b.failed, 0);
  return `<section aria-labelledby="now"><h2 id="now">Runs now</h2>
<dl class="stats" id="totals">${totals.length === 0 ? '<div><dt>runs</dt><dd>0</dd></div>' : totals.map(([s, n]) => `<div><dt>${esc(s)}</dt><dd data-status="${esc(s)}">${n}</dd></div>`).join('')}</dl></section>
<section aria-labelledby="window"><h2 id="window">Last ${o.windowMinutes} minutes</h2>
<dl class="stats"><div><dt>finished runs</dt><dd id="finished">${finished}</dd></div>
<div><dt>error rate</dt><dd id="error-rate">${o.errorRate === null ? '—' : `${(o.errorRate * 100).toFixed(1)} %`}</dd></div>
<div><dt>p50 run duration</dt><dd id="p50">${fmtSeconds(o.p50Seconds)}</dd></div>
<div><dt>p95 run duration</dt><dd id="p95">${fmtSeconds(o.p95Seconds)}</dd></div></dl>
<figure><figcaption id="c-status">Runs submitted, succeeded and failed per ${o.bucketSeconds / 60} min</figcaption><div class="chart" data-chart="status" role="img" aria-labelledby="c-status"></div></figure>
<figure><figcaption id="c-rows">Rows loaded per second</figcaption><div class="chart" data-chart="rows" role="img" aria-labelledby="c-rows"></div></figure>
<table><caption>The same numbers as a table (minutes with runs only)</caption><thead><tr><th scope="col">bucket start (UTC)</th><th scope="col">submitted</th><th scope="col">succeeded</th><th scope="col">failed</th><th scope="col">rows/s</th></tr></thead>
<tbody>${o.series.filter((b) => b.submitted + b.succeeded + b.failed > 0).map((b) => `<tr><td>${fmtTime(new Date(b.t * 1000).toISOString())}</td><td>${b.submitted}</td><td>${b.succeeded}</td><td>${b.failed}</td><td>${b.rowsPerSecond.toFixed(2)}</td></tr>`).join('') || '<tr><td colspan="5">No runs in this window.</td></tr>'}</tbody></table>
</section>${jsonBlock('overview-data', o)}`;
}

export function runRow(r: RunRow, showTenant: boolean): string {
  return `<tr data-run="${esc(r.id)}"><td><a href="/runs/${esc(r.id)}">${esc(r.id.slice(0, 8))}</a></td>${showTenant ? `<td>${esc(r.tenant)}</td>` : ''}<td>${esc(r.pipeline)}</td>
<td class="st">${statusCell(r.status)}</td><td class="rows">${esc(r.rowsOut ?? '—')}</td><td class="dur">${fmtSeconds(r.durationSeconds)}</td><td>${fmtTime(r.createdAt)}</td><td class="reason">${reason(r)}</td></tr>`;
}

export function runsPage(runs: RunRow[], filter: { status?: string; tenant?: string; q?: string }, sre: boolean): string {
  const statuses = ['', 'awaiting_approval', 'queued', 'planning', 'running', 'succeeded', 'failed', 'cancelled'];
  return `<form method="get" action="/runs" class="filters" role="search" aria-label="Filter runs">
<label for="f-status">Status</label> <select id="f-status" name="status">${statuses.map((s) => `<option value="${s}"${s === (filter.status ?? '') ? ' selected' : ''}>${s || 'any'}</option>`).join('')}</select>
${sre ? `<label for="f-tenant">Tenant</label> <input id="f-tenant" name="tenant" value="${esc(filter.tenant ?? '')}">` : ''}
<label for="f-q">Pipeline or run id</label> <input id="f-q" name="q" value="${esc(filter.q ?? '')}">
<button type="submit">Filter</button></form>
<p id="live-state" class="muted" aria-live="polite">Live updates: connecting…</p>
<table id="runs" data-live="runs" data-show-tenant="${sre ? '1' : '0'}" data-filter-status="${esc(filter.status ?? '')}" data-filter-tenant="${esc(filter.tenant ?? '')}" data-filter-q="${esc(filter.q ?? '')}">
<caption>Newest runs first${sre ? ', every tenant' : ''}</caption>
<thead><tr><th scope="col">run</th>${sre ? '<th scope="col">tenant</th>' : ''}<th scope="col">pipeline</th><th scope="col">status</th><th scope="col">rows out</th><th scope="col">duration</th><th scope="col">submitted</th><th scope="col">failure reason</th></tr></thead>
<tbody aria-live="polite">${runs.map((r) => runRow(r, sre)).join('')}</tbody></table>
${runs.length === 0 ? '<p id="no-runs">No runs match.</p>' : ''}`;
}

const kv = (rows: [string, string][]): string => `<dl class="kv">${rows.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join('')}</dl>`;

export function runPage(r: RunDetail): string {
  return `<div data-live="run" data-run="${esc(r.id)}">
${kv([
  ['run', esc(r.id)],
  ['tenant', esc(r.tenant)],
  ['pipeline', `${esc(r.pipeline)} (version ${esc(r.pipelineVersion ?? '—')})`],
  ['status', `<span class="st">${statusCell(r.status)}</span>`],
  ['submitted by', esc(r.submittedBy)],
  ['submitted', fmtTime(r.createdAt)],
  ['finished', fmtTime(r.finishedAt)],
  ['duration', fmtSeconds(r.durationSeconds)],
  ['rows in / out', `${esc(r.rowsIn ?? '—')} / ${esc(r.rowsOut ?? '—')}`],
  ['bytes out', esc(r.bytesOut ?? '—')],
  ['failure reason', r.error ? `<span class="reason">${reason(r)}</span>` : '—'],
])}</div>
<h2>Steps</h2><table><caption>Status changes, oldest first</caption><thead><tr><th scope="col">#</th><th scope="col">status</th><th scope="col">at</th><th scope="col">detail</th></tr></thead>
<tbody>${r.steps.map((s) => `<tr><td>${s.id}</td><td>${statusCell(s.status)}</td><td>${fmtTime(s.at)}</td><td><code>${esc(s.detail === null ? '' : JSON.stringify(s.detail))}</code></td></tr>`).join('')}</tbody></table>
<h2>Chunks</h2><table><caption>${r.chunks} planned; -1 is the commit</caption><thead><tr><th scope="col">chunk</th><th scope="col">rows in</th><th scope="col">rows out</th><th scope="col">bytes out</th><th scope="col">finished</th></tr></thead>
<tbody>${r.chunkRows.map((c) => `<tr><td>${c.chunk}</td><td>${esc(c.rowsIn ?? '—')}</td><td>${esc(c.rowsOut ?? '—')}</td><td>${esc(c.bytesOut ?? '—')}</td><td>${fmtTime(c.finishedAt)}</td></tr>`).join('') || '<tr><td colspan="5">No chunk recorded yet.</td></tr>'}</tbody></table>
<h2>Artifact and provenance</h2>
${r.artifact ? kv([['sha256', `<code>${esc(r.artifact.sha256)}</code>`], ['version', esc(r.artifact.version)], ['language', esc(r.artifact.language)], ['created', fmtTime(r.artifact.createdAt)]]) : '<p>No artifact recorded for this run.</p>'}
${r.provenance ? kv([['planner', `${esc(r.provenance.planner)} ${esc(r.provenance.plannerVersion)}`], ['instruction sha256', `<code>${esc(r.provenance.instructionSha256)}</code>`], ['sample sha256', `<code>${esc(r.provenance.sampleSha256 ?? '—')}</code>`], ['requested by', esc(r.provenance.requestedBy)], ['planned', fmtTime(r.provenance.createdAt)]]) : '<p>No provenance: the code was written by a person, not planned from an instruction.</p>'}`;
}

export function agentsPage(agents: AgentView[]): string {
  return `<table><caption>Agents seen on the event stream (heartbeats and task results)</caption>
<thead><tr><th scope="col">agent</th><th scope="col">service</th><th scope="col">sandbox runtime</th><th scope="col">last heartbeat</th><th scope="col">last task</th><th scope="col">violations</th><th scope="col">quarantine</th></tr></thead>
<tbody>${agents.map((a) => `<tr><td>${esc(a.agentId)}</td><td>${esc(a.service)}</td><td>${esc(a.sandbox ?? 'not reported')}</td>
<td>${a.lastSeen.startsWith('1970') ? '—' : fmtTime(a.lastSeen)} ${a.stale ? '<span class="status s-failed">stale</span>' : '<span class="status s-succeeded">live</span>'}</td>
<td>${a.lastTask ? `<a href="/runs/${esc(a.lastTask.runId)}">${esc(a.lastTask.runId.slice(0, 8))}</a> ${esc(a.lastTask.step)} #${a.lastTask.chunk} ${esc(a.lastTask.outcome)} (${esc(a.lastTask.code)})` : '—'}</td>
<td>${a.violations}</td><td>${a.quarantine ? `<span class="status ${a.quarantine.state === 'quarantined' ? 's-failed' : 's-succeeded'}">${esc(a.quarantine.state)}</span> ${fmtTime(a.quarantine.at)} by ${esc(a.quarantine.by)}: ${esc(a.quarantine.reason)}` : 'no quarantine action seen'}</td></tr>`).join('') || '<tr><td colspan="7">No agent has sent a heartbeat recently.</td></tr>'}</tbody></table>`;
}

export interface StreamsView {
  lengths: { stream: string; length: number }[];
  groups: (GroupStats & { stream: string })[];
  deadLetters: { id: string; stream: string; reason: string; entry: string }[];
  deadLetterCount: number;
}

export function streamsPage(v: StreamsView): string {
  return `<table><caption>Stream lengths</caption><thead><tr><th scope="col">stream</th><th scope="col">entries</th></tr></thead>
<tbody>${v.lengths.map((l) => `<tr><td>${esc(l.stream)}</td><td data-stream="${esc(l.stream)}">${l.length}</td></tr>`).join('')}</tbody></table>
<table><caption>Consumer groups</caption><thead><tr><th scope="col">stream</th><th scope="col">group</th><th scope="col">lag</th><th scope="col">pending</th></tr></thead>
<tbody>${v.groups.map((g) => `<tr><td>${esc(g.stream)}</td><td>${esc(g.group)}</td><td>${g.lag}</td><td>${g.pending}</td></tr>`).join('')}</tbody></table>
<h2>Dead letters (${v.deadLetterCount})</h2>
<table><caption>Newest first; replay puts the message back on its stream</caption><thead><tr><th scope="col">id</th><th scope="col">from</th><th scope="col">reason</th><th scope="col">action</th></tr></thead>
<tbody>${v.deadLetters.map((d) => `<tr><td><code>${esc(d.id)}</code></td><td>${esc(d.stream)}</td><td>${esc(d.reason)}</td>
<td><button type="button" data-replay="${esc(d.id)}">Replay ${esc(d.id)}</button></td></tr>`).join('') || '<tr><td colspan="4">No dead letters.</td></tr>'}</tbody></table>
<p id="replay-result" aria-live="polite"></p>`;
}

export function violationsPage(runs: RunRow[], sre: boolean): string {
  return `<table><caption>Runs ended by a security-relevant sandbox result, newest first</caption>
<thead><tr><th scope="col">run</th>${sre ? '<th scope="col">tenant</th>' : ''}<th scope="col">pipeline</th><th scope="col">code</th><th scope="col">reason (scrubbed)</th><th scope="col">at</th></tr></thead>
<tbody>${runs.map((r) => `<tr><td><a href="/runs/${esc(r.id)}">${esc(r.id.slice(0, 8))}</a></td>${sre ? `<td>${esc(r.tenant)}</td>` : ''}<td>${esc(r.pipeline)}</td><td>${esc(r.error?.code)}</td><td>${esc(r.error?.message)}</td><td>${fmtTime(r.updatedAt)}</td></tr>`).join('') || `<tr><td colspan="${sre ? 6 : 5}">No sandbox violations.</td></tr>`}</tbody></table>`;
}

export function modelsPage(recorded: boolean): string {
  return recorded
    ? '<p class="empty">Model usage is recorded, but this dashboard does not show it yet.</p>'
    : '<p class="empty" id="models-empty">No model usage to show: this deployment records no tokens or cost per tenant yet (the agent planner does not report them).</p>';
}

export function messagePage(title: string, text: string, link?: { href: string; label: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · aoetl monitor</title><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body><main id="main"><h1>${esc(title)}</h1><p>${esc(text)}</p>${link ? `<p><a href="${esc(link.href)}">${esc(link.label)}</a></p>` : ''}</main></body></html>`;
}
