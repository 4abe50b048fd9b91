// aoetl monitor dashboard: charts on the overview (uPlot, served by the monitor), live run updates over
// server-sent events, and the dead-letter replay button. No inline script: the page's CSP forbids it.
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const seconds = (s) => (s === null || s === undefined ? '—' : s < 60 ? s.toFixed(1) + ' s' : (s / 60).toFixed(1) + ' min');

  function charts() {
    const data = document.getElementById('overview-data');
    if (!data || typeof uPlot === 'undefined') return;
    const o = JSON.parse(data.textContent);
    const t = o.series.map((b) => b.t);
    const width = (el) => Math.max(320, Math.min(900, el.clientWidth || 900));
    const status = document.querySelector('[data-chart="status"]');
    if (status) {
      new uPlot(
        { width: width(status), height: 220, series: [{}, { label: 'submitted', stroke: '#0b4fa3' }, { label: 'succeeded', stroke: '#0b6b1f' }, { label: 'failed', stroke: '#a30d0d' }] },
        [t, o.series.map((b) => b.submitted), o.series.map((b) => b.succeeded), o.series.map((b) => b.failed)],
        status,
      );
    }
    const rows = document.querySelector('[data-chart="rows"]');
    if (rows) new uPlot({ width: width(rows), height: 220, series: [{}, { label: 'rows/s', stroke: '#7a4a00' }] }, [t, o.series.map((b) => b.rowsPerSecond)], rows);
  }

  function matches(table, run) {
    const status = table.dataset.filterStatus, tenant = table.dataset.filterTenant, q = (table.dataset.filterQ || '').toLowerCase();
    if (status && run.status !== status) return false;
    if (tenant && run.tenant !== tenant) return false;
    if (q && !run.pipeline.toLowerCase().includes(q) && !run.id.startsWith(q)) return false;
    return true;
  }

  function rowHtml(run, showTenant) {
    const reason = run.error ? esc(run.error.code) + ': ' + esc(run.error.message) : '';
    return '<td><a href="/runs/' + esc(run.id) + '">' + esc(run.id.slice(0, 8)) + '</a></td>' + (showTenant ? '<td>' + esc(run.tenant) + '</td>' : '') +
      '<td>' + esc(run.pipeline) + '</td><td class="st"><span class="status s-' + esc(run.status) + '">' + esc(run.status) + '</span></td>' +
      '<td class="rows">' + esc(run.rowsOut ?? '—') + '</td><td class="dur">' + seconds(run.durationSeconds) + '</td><td><time datetime="' + esc(run.createdAt) + '">' +
      esc(run.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) + '</time></td><td class="reason">' + reason + '</td>';
  }

  function live() {
    const table = document.querySelector('[data-live="runs"]');
    const single = document.querySelector('[data-live="run"]');
    if (!table && !single) return;
    const state = document.getElementById('live-state');
    const say = (text) => { if (state) state.textContent = text; };
    const source = new EventSource('/api/live');
    source.addEventListener('open', () => say('Live updates: on'));
    source.addEventListener('status', (e) => {
      const s = JSON.parse(e.data);
      say(s.ok ? 'Live updates: on' : 'Live updates paused: ' + s.problem);
    });
    source.addEventListener('error', () => {
      say('Live updates: reconnecting…');
      // A closed stream after the session ended: the API answers 401, and the person logs in again.
      fetch('/api/runs?limit=1', { credentials: 'same-origin' }).then((r) => { if (r.status === 401) location.assign('/login?returnTo=' + encodeURIComponent(location.pathname + location.search)); }, () => undefined);
    });
    source.addEventListener('run', (e) => {
      const run = JSON.parse(e.data);
      if (single) {
        if (single.dataset.run !== run.id) return;
        const st = single.querySelector('.st');
        if (st) st.innerHTML = '<span class="status s-' + esc(run.status) + '">' + esc(run.status) + '</span>';
        return;
      }
      if (!matches(table, run)) return;
      const showTenant = table.dataset.showTenant === '1';
      let row = table.querySelector('tr[data-run="' + CSS.escape(run.id) + '"]');
      if (!row) {
        row = document.createElement('tr');
        row.dataset.run = run.id;
        table.tBodies[0].prepend(row);
        document.getElementById('no-runs')?.remove();
      }
      row.innerHTML = rowHtml(run, showTenant);
    });
  }

  function replay() {
    const result = document.getElementById('replay-result');
    for (const button of document.querySelectorAll('button[data-replay]')) {
      button.addEventListener('click', async () => {
        button.disabled = true;
        const res = await fetch('/api/deadletters/' + encodeURIComponent(button.dataset.replay) + '/replay', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
        const body = await res.json().catch(() => ({}));
        if (result) result.textContent = res.ok ? 'Replayed onto ' + body.stream + ' as ' + body.replayedAs : 'Replay refused: ' + (body.detail || res.status);
        if (res.ok) button.closest('tr')?.remove(); else button.disabled = false;
      });
    }
  }

  document.addEventListener('DOMContentLoaded', () => { charts(); live(); replay(); });
})();
