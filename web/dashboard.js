'use strict';
/*
 * Lifecycle Desk dashboard: the six reports of /api/reports as charts and tables for a date range.
 * Every number opens the records behind it (GET /api/reports/<name>/records), and a record opens
 * its account's timeline (GET /api/accounts/:id/history). The API token is asked once and kept in
 * sessionStorage (this tab only); it goes out as the bearer token. No data is in the page itself.
 * Chart.js is served by the service (/dashboard/vendor), never from a CDN.
 */
(() => {
  const TOKEN_KEY = 'lifecycle-desk.api-token';
  const REPORTS = ['volume', 'money', 'approvals', 'turnaround', 'churn', 'risk'];
  const TITLES = {
    volume: 'Volume',
    money: 'Money',
    approvals: 'Approvals',
    turnaround: 'Turnaround',
    churn: 'Churn and terminations',
    risk: 'Risk',
  };
  const COLORS = ['#2f6fde', '#e0803a', '#3aa676', '#c0392b', '#8e5bd0', '#7f8c8d', '#d4a017', '#16a2b8'];
  const $ = (id) => document.getElementById(id);
  const charts = {};
  const cards = {};
  let range = null;

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${token()}`, accept: 'application/json' } });
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('The API refused this token; enter it again.');
      throw new Error('unauthorized');
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || `${res.status} ${res.statusText}`);
    return body;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') node.className = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  const isoDay = (d) => d.toISOString().slice(0, 10);
  const status = (text) => ($('status').textContent = text);

  const exponents = {};
  function exponent(currency) {
    if (exponents[currency] === undefined) {
      try {
        exponents[currency] = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
      } catch {
        exponents[currency] = 2;
      }
    }
    return exponents[currency];
  }
  const major = (minor, currency) => Number(minor) / 10 ** exponent(currency);
  function money(minor, currency) {
    if (!currency) return String(minor);
    const e = exponent(currency);
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, minimumFractionDigits: e, maximumFractionDigits: e }).format(major(minor, currency));
  }

  function shown(value, type, row) {
    if (value === null || value === undefined) return '–';
    switch (type) {
      case 'money':
        return money(value, row.currency);
      case 'share':
        return `${(Number(value) * 100).toFixed(1)} %`;
      case 'seconds':
        return `${(Number(value) / 3600).toFixed(1)} h`;
      case 'days':
        return `${Number(value).toFixed(1)} d`;
      case 'hours':
        return `${value} h`;
      default:
        return String(value);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sign-in and the date range

  function showLogin(message) {
    $('login').hidden = false;
    $('range').hidden = true;
    $('reports').hidden = true;
    $('login-error').textContent = message || '';
    status('');
  }

  function showDashboard() {
    $('login').hidden = true;
    $('range').hidden = false;
    $('reports').hidden = false;
    load().catch((err) => status(`Could not load the reports: ${err.message}`));
  }

  function preset(name) {
    const now = new Date();
    const y = now.getUTCFullYear();
    const m = now.getUTCMonth();
    if (name === 'this_month') return [new Date(Date.UTC(y, m, 1)), now];
    if (name === 'last_month') return [new Date(Date.UTC(y, m - 1, 1)), new Date(Date.UTC(y, m, 0))];
    return [new Date(now.getTime() - 29 * 86400000), now];
  }

  function setRange([from, to]) {
    $('from').value = isoDay(from);
    $('to').value = isoDay(to);
  }

  // ---------------------------------------------------------------------------------------------
  // Reports

  async function load() {
    const from = $('from').value;
    const to = $('to').value;
    document.body.dataset.loaded = '';
    status(`Loading ${from} to ${to}…`);
    const [incidents, ...reports] = await Promise.all([
      api('/api/incidents?limit=10'),
      ...REPORTS.map((name) => api(`/api/reports/${name}?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`)),
    ]);
    range = { from, to };
    reports.forEach(render);
    renderIncidents(incidents.incidents);
    status(`${from} to ${to} (UTC days, both included). Click any number for the records behind it.`);
    document.body.dataset.loaded = `${from}..${to}`;
  }

  const section = (report, name) => report.sections.find((s) => s.name === name) || { rows: [], dimensions: [], measures: [] };

  /** What each report draws: labels, datasets, and the section a bar drills into. */
  function chartOf(report) {
    switch (report.report) {
      case 'volume': {
        const s = section(report, 'by_kind');
        return {
          section: 'by_kind',
          dims: s.rows.map((r) => ({ kind: r.kind })),
          labels: s.rows.map((r) => r.kind),
          datasets: [{ label: 'records', data: s.rows.map((r) => r.records) }],
        };
      }
      case 'money': {
        // One currency per chart (amounts in different currencies do not share an axis): the one with most credits.
        const all = section(report, 'credits_by_cause').rows;
        const totals = {};
        for (const r of all) totals[r.currency] = (totals[r.currency] || 0) + r.records;
        const currency = Object.keys(totals).sort((a, b) => totals[b] - totals[a] || a.localeCompare(b))[0];
        const s = all.filter((r) => r.currency === currency);
        return {
          section: 'credits_by_cause',
          dims: s.map((r) => ({ currency: r.currency, cause: r.cause })),
          labels: s.map((r) => r.cause),
          datasets: [{ label: `credits granted by cause (${currency || 'none'})`, data: s.map((r) => major(r.amount_minor, r.currency)) }],
          legend: true,
        };
      }
      case 'approvals': {
        const s = section(report, 'by_rule');
        return {
          section: 'by_rule',
          stacked: true,
          dims: s.rows.map((r) => ({ rule: r.rule })),
          labels: s.rows.map((r) => r.rule),
          datasets: [
            { label: 'auto-approved', data: s.rows.map((r) => r.auto_approved) },
            { label: 'approved', data: s.rows.map((r) => r.approved) },
            { label: 'rejected', data: s.rows.map((r) => r.rejected) },
          ],
        };
      }
      case 'turnaround': {
        const s = section(report, 'by_kind');
        const h = (v) => (v === null ? null : Math.round((v / 3600) * 10) / 10);
        return {
          section: 'by_kind',
          dims: s.rows.map((r) => ({ kind: r.kind })),
          labels: s.rows.map((r) => r.kind),
          datasets: [
            { label: 'median (h)', data: s.rows.map((r) => h(r.median_seconds)) },
            { label: 'p90 (h)', data: s.rows.map((r) => h(r.p90_seconds)) },
            { label: 'target (h)', data: s.rows.map((r) => r.target_hours) },
          ],
        };
      }
      case 'churn': {
        const s = section(report, 'terminations');
        const months = [...new Set(s.rows.map((r) => r.month))];
        const reasons = [...new Set(s.rows.map((r) => r.reason))];
        return {
          section: 'terminations',
          stacked: true,
          dims: months.map((month) => ({ month })),
          labels: months,
          datasets: reasons.map((reason) => ({
            label: report.labels.reason[reason] || reason,
            data: months.map((m) => (s.rows.find((r) => r.month === m && r.reason === reason) || {}).terminations || 0),
          })),
        };
      }
      default: {
        const s = section(report, 'by_flag');
        return {
          section: 'by_flag',
          dims: s.rows.map((r) => ({ flag: r.flag })),
          labels: s.rows.map((r) => r.flag),
          datasets: [{ label: 'records flagged', data: s.rows.map((r) => r.records) }],
        };
      }
    }
  }

  function cardFor(name) {
    if (cards[name]) return cards[name];
    const canvas = el('canvas', { id: `chart-${name}`, role: 'img', 'aria-label': `${TITLES[name]} chart` });
    const tables = el('div', { class: 'tables' });
    const card = el('section', { class: 'card', id: `report-${name}`, dataset: { report: name } }, el('h2', {}, TITLES[name]), canvas, tables);
    $('reports').append(card);
    cards[name] = { card, canvas, tables };
    return cards[name];
  }

  // Incidents: the newest ones, their credits counted by state (GET /api/incidents), whatever the range.
  const INCIDENT_STATES = ['pending_approval', 'approved', 'applying', 'applied', 'confirmed', 'failed', 'rejected'];
  function renderIncidents(list) {
    let card = $('incidents');
    if (!card) {
      card = el('section', { class: 'card', id: 'incidents' }, el('h2', {}, 'Incidents'), el('div', { class: 'tables' }));
      $('reports').append(card);
    }
    const head = el(
      'tr',
      {},
      el('th', {}, 'incident'),
      el('th', {}, 'service'),
      el('th', {}, 'window (UTC)'),
      el('th', {}, 'credits'),
      ...INCIDENT_STATES.map((st) => el('th', { class: 'num' }, st.replace('_', ' '))),
    );
    const rows = list.map((i) =>
      el(
        'tr',
        { dataset: { incident: i.reference } },
        el('td', {}, i.reference),
        el('td', {}, i.service),
        el('td', {}, `${i.starts_at.slice(0, 16).replace('T', ' ')} → ${i.ends_at.slice(0, 16).replace('T', ' ')}`),
        el('td', { class: 'num' }, i.totals.map((t) => money(t.amount_minor, t.currency)).join(', ') || '–'),
        ...INCIDENT_STATES.map((st) => el('td', { class: 'num', dataset: { state: st } }, i.counts[st] || 0)),
      ),
    );
    const table = el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows));
    card.querySelector('.tables').replaceChildren(list.length ? table : el('p', {}, 'No incidents yet.'));
  }

  function render(report) {
    const name = report.report;
    const { canvas, tables } = cardFor(name);
    const c = chartOf(report);
    const datasets = c.datasets.map((d, i) => ({ ...d, backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length] }));
    if (charts[name]) {
      charts[name].data.labels = c.labels;
      charts[name].data.datasets = datasets;
      charts[name].$drill = c;
      charts[name].update();
    } else if (window.Chart) {
      charts[name] = new window.Chart(canvas, {
        type: 'bar',
        data: { labels: c.labels, datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          scales: { x: { stacked: !!c.stacked }, y: { stacked: !!c.stacked, beginAtZero: true } },
          plugins: { legend: { display: datasets.length > 1 || !!c.legend } },
          onClick: (_event, elements, chart) => {
            if (!elements.length) return;
            const spec = chart.$drill;
            drill(name, spec.section, spec.dims[elements[0].index], `${TITLES[name]}: ${spec.labels[elements[0].index]}`);
          },
        },
      });
      charts[name].$drill = c;
    }
    tables.replaceChildren(...report.sections.map((s) => sectionTable(name, s)));
  }

  function sectionTable(report, s) {
    const head = el('tr', {}, ...s.dimensions.map((d) => el('th', {}, d)), ...s.measures.map((m) => el('th', { class: 'num' }, m.key.replace(/_minor$/, ''))));
    const rows = s.rows.map((row) => {
      const dims = {};
      for (const d of s.dimensions) if (row[d] !== null && row[d] !== undefined) dims[d] = String(row[d]);
      const label = s.dimensions.map((d) => row[d]).join(' · ') || s.title;
      return el(
        'tr',
        {},
        ...s.dimensions.map((d) => el('td', {}, row[d] === null ? '–' : String(row[d]))),
        ...s.measures.map((m) => {
          const value = row[m.key];
          if (value === null || value === undefined) return el('td', { class: 'num' }, '–');
          const filters = { ...dims, ...(m.drill || {}) };
          return el(
            'td',
            { class: 'num' },
            el(
              'button',
              {
                type: 'button',
                class: 'n',
                title: 'Show the records',
                dataset: { section: s.name, measure: m.key },
                onclick: () => drill(report, s.name, filters, `${TITLES[report]} · ${s.title}: ${label} · ${m.key}`),
              },
              shown(value, m.type, row),
            ),
          );
        }),
      );
    });
    return el(
      'div',
      {},
      el('h3', {}, s.title),
      el(
        'table',
        { dataset: { section: s.name } },
        el('thead', {}, head),
        el('tbody', {}, ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: String(s.dimensions.length + s.measures.length) }, 'none in this range'))])),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Drill-down and timeline

  async function drill(report, sectionName, filters, title) {
    const q = new URLSearchParams({ from: range.from, to: range.to, section: sectionName, limit: '200', ...filters });
    const { total, records } = await api(`/api/reports/${report}/records?${q}`);
    $('drill-title').textContent = title;
    $('drill-summary').textContent =
      `${total} record(s)${total > records.length ? `, the first ${records.length} shown` : ''}. Click a record for its account's timeline.`;
    $('drill-table')
      .querySelector('thead')
      .replaceChildren(el('tr', {}, ...['record', 'kind', 'subtype', 'account', 'state', 'reason', 'agent', 'amount', 'created'].map((h) => el('th', {}, h))));
    $('drill-table')
      .querySelector('tbody')
      .replaceChildren(
        ...records.map((r) =>
          el(
            'tr',
            { dataset: { record: r.id } },
            el('td', {}, el('button', { type: 'button', class: 'n', onclick: () => timeline(r.account_id, r.id) }, r.id.slice(0, 8))),
            el('td', {}, r.kind),
            el('td', {}, r.subtype),
            el('td', {}, el('button', { type: 'button', class: 'n', onclick: () => timeline(r.account_id, null) }, r.account_id)),
            el('td', {}, r.state),
            el('td', {}, r.reason_code),
            el('td', {}, r.requested_by),
            el('td', { class: 'num' }, r.amount ? money(r.amount.amount_minor, r.amount.currency) : '–'),
            el('td', {}, r.created_at.slice(0, 16).replace('T', ' ')),
          ),
        ),
      );
    $('drill').hidden = false;
    $('drill').scrollIntoView({ block: 'nearest' });
  }

  async function timeline(accountId, recordId) {
    const h = await api(`/api/accounts/${encodeURIComponent(accountId)}/history`);
    $('timeline-title').textContent = `Account ${accountId}${h.account ? ` — ${h.account.name}` : ''}`;
    $('timeline-summary').textContent =
      `${h.records.length} record(s), ${h.events.length} audit event(s), newest first${recordId ? '; the chosen record\u2019s events are marked' : ''}.`;
    $('timeline-events').replaceChildren(
      ...h.events.map((e) =>
        el(
          'li',
          { dataset: { record: e.record_id || '' }, class: recordId && e.record_id === recordId ? 'mine' : '' },
          el('time', { datetime: e.occurred_at }, e.occurred_at.slice(0, 19).replace('T', ' ')),
          el('strong', {}, e.type),
          ` by ${e.actor.role} ${e.actor.id}`,
          e.record_id ? ` · record ${e.record_id.slice(0, 8)}` : '',
          recordId && e.record_id === recordId ? ' ◀' : '',
        ),
      ),
    );
    $('timeline').hidden = false;
    $('timeline').scrollIntoView({ block: 'nearest' });
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring

  document.addEventListener('DOMContentLoaded', () => {
    setRange(preset('last_30'));
    $('login').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      $('token').value = '';
      showDashboard();
    });
    $('range').addEventListener('submit', (e) => {
      e.preventDefault();
      load().catch((err) => status(`Could not load the reports: ${err.message}`));
    });
    for (const b of document.querySelectorAll('[data-preset]')) {
      b.addEventListener('click', () => {
        setRange(preset(b.dataset.preset));
        load().catch((err) => status(`Could not load the reports: ${err.message}`));
      });
    }
    $('signout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('');
    });
    for (const b of document.querySelectorAll('[data-close]')) b.addEventListener('click', () => ($(b.dataset.close).hidden = true));
    if (token()) showDashboard();
    else showLogin('');
  });
})();
