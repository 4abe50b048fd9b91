import Fastify from 'fastify';
import type { Logger } from '@aoetl/observability';
import { redactValues } from '@aoetl/pii';
import type { RunMetrics } from './run-metrics.js';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aoetl monitor</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'">
<style>body{font:14px system-ui;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.succeeded{color:#070}.failed{color:#b00}.running,.planning,.queued{color:#a60}.stale{color:#b00}</style></head>
<body><h1>aoetl — live runs</h1><p id="summary"></p>
<h2>Recent runs</h2><table><thead><tr><th>run</th><th>tenant</th><th>status</th><th>rows</th><th>duration</th><th>reason</th><th>at</th></tr></thead><tbody id="runs"></tbody></table>
<h2>Agents</h2><table><thead><tr><th>agent</th><th>service</th><th>last heartbeat</th></tr></thead><tbody id="agents"></tbody></table>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function tick() {
  const r = await fetch('api/summary'); const d = await r.json();
  document.getElementById('summary').textContent = 'runs seen: ' + d.runs.length + ' · agents: ' + d.agents.length;
  document.getElementById('runs').innerHTML = d.runs.map((x) => '<tr><td>' + esc(x.runId) + '</td><td>' + esc(x.tenant) + '</td><td class="' + esc(x.status) + '">' + esc(x.status) + '</td><td>' + esc(x.rowsOut) + '</td><td>' + esc(x.durationMs === undefined ? '' : (x.durationMs/1000).toFixed(1) + ' s') + '</td><td>' + esc(x.reason) + '</td><td>' + esc(x.at) + '</td></tr>').join('');
  document.getElementById('agents').innerHTML = d.agents.map((a) => '<tr><td>' + esc(a.agentId) + '</td><td>' + esc(a.service) + '</td><td class="' + (a.stale ? 'stale' : '') + '">' + esc(a.lastSeen) + '</td></tr>').join('');
}
tick(); setInterval(tick, 2000);
</script></body></html>`;

export function buildDashboard(metrics: RunMetrics, staleMs: number, logger: Logger) {
  const app = Fastify({ loggerInstance: logger.child({ component: 'dashboard' }), disableRequestLogging: true });
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  app.get('/api/summary', async () => ({
    // A failure's reason can quote row data: the dashboard shows it with every value replaced by its type and length.
    runs: metrics.recent.map((r) => (r.reason === undefined ? r : { ...r, reason: redactValues(r.reason) })),
    agents: [...metrics.agents].map(([agentId, a]) => ({
      agentId,
      service: a.service,
      lastSeen: new Date(a.lastSeen).toISOString(),
      stale: Date.now() - a.lastSeen > staleMs,
    })),
  }));
  return app;
}
