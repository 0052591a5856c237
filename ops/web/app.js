// provbridge ops dashboard: reads the JSON API of docs/ops-api.md and redraws every 2 s.
// The API's data includes user-controlled text (names, reasons), so it only ever reaches the
// page through textContent, text nodes and setAttribute: never as markup.
'use strict';

const TOKEN_KEY = 'provbridge-ops-token';
const REFRESH_MS = 2000;
const FETCH_TIMEOUT_MS = 10000;
// A replay whose entry is still listed after this long may be tried again (the worker may be down).
const SENT_HOLD_MS = 30000;
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (sel) => document.querySelector(sel);
const sigs = new WeakMap();  // element -> JSON of the data it was last drawn from

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'onclick') el.addEventListener('click', v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function svgEl(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// True when data differs from what el was last drawn from: unchanged parts are left alone,
// so a link or button is not swapped out under the pointer on every refresh.
function changed(el, data) {
  const sig = JSON.stringify(data);
  if (sigs.get(el) === sig) return false;
  sigs.set(el, sig);
  return true;
}

// Keyed rows: a row is rebuilt only when its own data changed, and kept in the API's order.
function syncRows(tbody, items, attr, keyOf, build, sigOf = (item) => item) {
  const old = new Map();
  for (const tr of tbody.rows) old.set(tr.getAttribute(attr), tr);
  const rows = items.map((item) => {
    const key = String(keyOf(item));
    let tr = old.get(key);
    old.delete(key);
    const sig = JSON.stringify(sigOf(item));
    if (!tr || sigs.get(tr) !== sig) {
      const fresh = build(item);
      fresh.setAttribute(attr, key);
      sigs.set(fresh, sig);
      if (tr) tr.replaceWith(fresh);
      tr = fresh;
    }
    return tr;
  });
  for (const tr of old.values()) tr.remove();
  rows.forEach((tr, i) => { if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null); });
}

// ---- formatting

const dash = (f) => (v) => (v === null || v === undefined ? '—' : f(Number(v)));
const fmt = {
  int: dash((v) => v.toLocaleString('en-US')),
  rate: dash((v) => v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)),
  pct: dash((v) => (v * 100).toFixed(v >= 0.1 ? 0 : 1) + '%'),
  ms: dash((v) => v.toFixed(v >= 100 ? 0 : 1)),
};
const pad2 = (n) => String(n).padStart(2, '0');
const clock = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const today = d.toDateString() === new Date().toDateString();
  return today ? clock(d) : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${clock(d)}`;
}
const hhmm = (iso) => { const d = new Date(iso); return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`; };

const badge = (state) => h('span', { class: `badge badge-${state}`, text: String(state).replace(/_/g, ' ') });
const appHref = (id) => `#/apps/${encodeURIComponent(id)}`;
const objectOf = (r) => (r.object_type ? `${r.object_type}/${r.object_id}`
  : r.topic ? `record ${r.topic}[${r.partition}]@${r.offset}` : '—');

// Every number carries its raw JSON value in data-value, for tests to compare with the API.
function num(tag, field, value, format, hot = false) {
  const cls = ['num', hot && Number(value) > 0 ? 'hot' : ''].join(' ').trim();
  return h(tag, { class: cls, 'data-field': field, 'data-value': String(value) }, format(value));
}

const ROW_NUMBERS = [
  ['events_per_second', 'Events/s', fmt.rate],
  ['failure_rate', 'Failures', fmt.pct, true],
  ['latency_p50_ms', 'p50 ms', fmt.ms],
  ['latency_p99_ms', 'p99 ms', fmt.ms],
  ['dlq', 'DLQ', fmt.int, true],
  ['parked', 'Parked', fmt.int, true],
  ['retry_queue', 'Retry queue', fmt.int, true],
];
const SUMMARY_NUMBERS = [
  ['events', 'Events', fmt.int], ['failed', 'Failed', fmt.int, true], ...ROW_NUMBERS,
  ['staged_deletes', 'Staged deletes', fmt.int, true], ['references_waiting', 'References waiting', fmt.int],
  ['reference_failures_last_hour', 'Ref. failures, 1 h', fmt.int, true],
  ['dry_run_events', 'Dry-run decisions', fmt.int],
];

// ---- token, requests, banners

const store = {
  get() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } },
  set(t) { try { sessionStorage.setItem(TOKEN_KEY, t); } catch { /* private mode: asked again */ } },
  forget() { try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ } },
};

// The demo prints /#token=...: keep it for this tab and take it out of the address bar and history.
function captureToken() {
  const hash = location.hash.slice(1);
  const m = /(?:^|&)token=([^&]*)/.exec(hash);
  if (!m) return;
  try { store.set(decodeURIComponent(m[1])); } catch { store.set(m[1]); }
  const rest = hash.replace(m[0], '').replace(/^&/, '');
  history.replaceState(null, '', location.pathname + location.search + (rest.startsWith('/') ? '#' + rest : '#/'));
}

function token() {
  let t = store.get();
  if (!t) {
    t = (window.prompt('Ops token for this action (ops.token_env or ops.token_file):') || '').trim();
    if (t) store.set(t);
  }
  return t;
}

async function request(path, init = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, { cache: 'no-store', ...init, signal: abort.signal });
  } catch (e) {
    throw new Error(e.name === 'AbortError' ? 'no answer within 10 s' : 'server unreachable');
  } finally {
    clearTimeout(timer);
  }
  let doc = null;
  try { doc = await res.json(); } catch { /* an error page without JSON */ }
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) store.forget();
    throw new Error((doc && doc.error) || `HTTP ${res.status} ${res.statusText}`);
  }
  return doc;
}

function post(path, body) {
  const t = token();
  if (!t) return Promise.reject(new Error('this action needs the ops token'));
  const headers = { Authorization: `Bearer ${t}` };
  if (body) headers['Content-Type'] = 'application/json';
  return request(path, { method: 'POST', headers, body: body ? JSON.stringify(body) : undefined });
}

// Two kinds of error: a failed refresh clears itself with the next good one; a failed action
// stays until dismissed, the next action, or another page.
const errors = { fetch: '', action: '' };
function showErrors() {
  const box = $('#error');
  box.replaceChildren();
  if (errors.fetch) box.append(h('p', {}, h('span', { 'data-kind': 'fetch', text: errors.fetch })));
  if (errors.action) {
    box.append(h('p', {}, h('span', { 'data-kind': 'action', text: errors.action }),
      h('button', { class: 'dismiss', title: 'dismiss', onclick: () => { errors.action = ''; showErrors(); } }, '×')));
  }
  box.hidden = !errors.fetch && !errors.action;
}

let noticeTimer = 0;
function notice(text) {
  const box = $('#notice');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

async function act(button, busyText, path, body, done) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  try {
    done(await post(path, body));
    errors.action = '';
  } catch (e) {
    errors.action = `${label}: ${e.message}`;
  } finally {
    button.disabled = false;
    button.textContent = label;
    showErrors();
    refreshNow();
  }
}

// ---- charts (inline SVG, 0 at the bottom, the scale's top and the hour's ends labelled)

const CW = 640, CH = 190, PL = 46, PR = 8, PT = 10, PB = 22;

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => v <= m);
}

function frame(svg, minutes, max) {
  svg.replaceChildren();
  const n = Math.max(minutes.length, 1), y0 = CH - PB, span = y0 - PT, step = (CW - PL - PR) / n;
  const y = (v) => y0 - (v / max) * span;
  for (const v of [0, max / 2, max]) {
    svg.append(svgEl('line', { class: v ? 'rule' : 'axis', x1: PL, x2: CW - PR, y1: y(v), y2: y(v) }));
    svg.append(svgEl('text', { class: 'label', x: PL - 6, y: y(v) + 4, 'text-anchor': 'end' },
      String(+v.toPrecision(3))));
  }
  if (minutes.length) {
    svg.append(svgEl('text', { class: 'label', x: PL, y: CH - 6 }, hhmm(minutes[0].minute)));
    svg.append(svgEl('text', { class: 'label', x: CW - PR, y: CH - 6, 'text-anchor': 'end' },
      hhmm(minutes[minutes.length - 1].minute)));
  } else {
    svg.append(svgEl('text', { class: 'label', x: CW / 2, y: CH / 2, 'text-anchor': 'middle' }, 'no data'));
  }
  return { x: (i) => PL + (i + 0.5) * step, y, step, y0 };
}

function drawThroughput(svg, minutes) {
  const f = frame(svg, minutes, niceMax(Math.max(0, ...minutes.map((m) => m.events || 0))));
  const w = Math.max(1, f.step * 0.8);
  minutes.forEach((m, i) => {
    const x = f.x(i) - w / 2;
    const bar = svgEl('rect', { class: 'bar', x, y: f.y(m.events || 0), width: w, height: f.y0 - f.y(m.events || 0) });
    bar.append(svgEl('title', {}, `${hhmm(m.minute)}: ${m.events} events, ${m.applied} applied, ` +
      `${m.skipped} skipped, ${m.warnings} warnings, ${m.dead_lettered} dead-lettered`));
    svg.append(bar);
    if (m.dead_lettered > 0) {
      svg.append(svgEl('rect', { class: 'bar fail', x, y: f.y(m.dead_lettered), width: w, height: f.y0 - f.y(m.dead_lettered) }));
    }
  });
}

function drawLatency(svg, minutes) {
  const values = minutes.flatMap((m) => [m.latency_p50_ms, m.latency_p99_ms]).filter((v) => v !== null && v !== undefined);
  const f = frame(svg, minutes, niceMax(Math.max(0, ...values)));
  for (const key of ['latency_p50_ms', 'latency_p99_ms']) {
    // A minute without events has no latency: the line breaks there instead of dropping to 0.
    let run = [];
    const flush = () => {
      if (run.length === 1) svg.append(svgEl('circle', { class: `dot ${key}`, cx: run[0][0], cy: run[0][1], r: 2.5 }));
      else if (run.length) svg.append(svgEl('polyline', { class: `line ${key}`, points: run.map((p) => p.join(',')).join(' ') }));
      run = [];
    };
    minutes.forEach((m, i) => {
      const v = m[key];
      if (v === null || v === undefined) flush(); else run.push([f.x(i).toFixed(1), f.y(v).toFixed(1)]);
    });
    flush();
  }
}

// ---- fleet page

function fleetView() {
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true, text: 'No app is configured.' });
  const group = h('div', { class: 'group' });
  const head = h('tr', {}, h('th', { text: 'App' }), h('th', { text: 'State' }),
    ...ROW_NUMBERS.map(([, label]) => h('th', { class: 'num', text: label })), h('th', { class: 'num', text: 'Lag' }));
  const sources = h('div', { id: 'sources' });
  const el = h('section', { class: 'card' }, h('h2', { text: 'Apps' }),
    h('table', { id: 'fleet', class: 'grid' }, h('thead', {}, head), tbody), empty, group, sources);

  // The directory sources, as each last reported itself.
  function renderSources(list) {
    if (!list.length) { sources.replaceChildren(); return; }
    const cls = (s) => ({ following: 'healthy', stopped: 'healthy', 'initial sync': 'degraded', refreshing: 'degraded',
      connecting: 'degraded' }[s] || 'quarantined');
    const n = (v) => (v === null || v === undefined ? '-' : fmt.int(v));
    sources.replaceChildren(h('h3', { text: 'Directory sources' }),
      h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ...['Source', 'State', 'Users', 'Groups', 'Entries read', 'Events sent', 'Failures', 'Reported', 'Last error']
          .map((t, i) => h('th', { class: i >= 2 && i <= 6 ? 'num' : '', text: t })))),
        h('tbody', {}, ...list.map((s) => h('tr', { 'data-source': s.source },
          h('td', { 'data-field': 'source', title: s.url || '', text: s.source }),
          h('td', { 'data-field': 'state' }, h('span', { class: `badge badge-${cls(s.state)}`, text: s.state })),
          ...['users', 'groups', 'entries_read', 'events_sent', 'failures'].map((f) =>
            h('td', { class: 'num', 'data-field': f, text: n(s[f]) })),
          h('td', { 'data-field': 'updated_at', text: s.updated_at ? when(s.updated_at) : '-' }),
          h('td', { 'data-field': 'last_error', class: s.last_error ? 'warn' : 'muted', text: s.last_error || '-' }))))));
  }

  function row(a, lagTotal) {
    const q = a.quarantine;
    const why = q ? `quarantined: ${q.code}: ${q.reason}` : null;
    const state = a.state === 'healthy' ? badge(a.state)
      : h('a', { href: appHref(a.app), title: why || 'details on the app page' }, badge(a.state));
    return h('tr', { title: why },
      h('td', { 'data-field': 'app' }, h('a', { href: appHref(a.app), text: a.app }),
        a.dry_run ? h('span', { class: 'tag', text: 'dry run' }) : null),
      h('td', { 'data-field': 'state' }, state),
      ...ROW_NUMBERS.map(([f, , format, hot]) => num('td', f, a[f], format, hot)),
      num('td', 'lag', lagTotal, (v) => (v === null || v === undefined ? '?' : fmt.int(v))));
  }

  function render(doc) {
    const apps = doc.apps || [];
    renderSources(doc.sources || []);
    syncRows(tbody, apps, 'data-app', (a) => a.app, (a) => row(a, doc.lag_total), (a) => [a, doc.lag_total]);
    empty.hidden = apps.length > 0;
    const lags = (doc.lag || []).map((p) => `${p.topic}[${p.partition}] ${p.lag}`).join(', ');
    group.replaceChildren(
      h('p', {}, 'Consumer group ', h('b', { text: doc.group }), ': lag ',
        h('b', { text: doc.lag_total === null || doc.lag_total === undefined ? 'unknown' : fmt.int(doc.lag_total) }),
        lags ? ` (${lags})` : '', ` · window ${doc.window_minutes} min · generated ${when(doc.generated_at)}`),
      doc.lag_error ? h('p', { class: 'warn', text: `Lag unknown: ${doc.lag_error}` }) : '',
      doc.unrouted_dlq > 0 ? h('p', { class: 'warn' }, `${fmt.int(doc.unrouted_dlq)} dead letters of records that named no configured app `,
        h('code', { text: 'provbridge dlq list --app _invalid' })) : '',
      doc.mutations_enabled === false ? h('p', { class: 'muted', text: 'Read-only: no ops token is configured, so actions are refused.' }) : '');
  }
  return { key: 'fleet', title: 'provbridge ops', path: 'api/v1/apps', el, render };
}

// ---- app page

const replays = new Map();  // entry id -> {state: 'sending' | 'sent', at}

// A card with a count in its title and a table that gives way to a line of text when empty.
function listSection(id, title, heads, emptyText) {
  const count = h('span', { class: 'count' });
  const tbody = h('tbody');
  const table = h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, ...heads.map(([t, c]) => h('th', { class: c, text: t })))), tbody);
  const empty = h('p', { class: 'empty', text: emptyText });
  const el = h('section', { id, class: 'card' }, h('h2', {}, title, count), table, empty);
  const show = (rows, countText, quiet = false) => {
    count.textContent = countText;
    table.hidden = rows === 0;
    empty.hidden = rows > 0 || quiet;
  };
  return { el, tbody, table, show };
}

function appView(id) {
  const base = `api/v1/apps/${encodeURIComponent(id)}`;
  const head = h('div', { class: 'apphead' });
  const summary = h('section', { id: 'summary', class: 'card stats' });
  const throughput = svgEl('svg', { id: 'chart-throughput', class: 'chart', viewBox: `0 0 ${CW} ${CH}`, role: 'img', 'aria-label': 'events per minute' });
  const latency = svgEl('svg', { id: 'chart-latency', class: 'chart', viewBox: `0 0 ${CW} ${CH}`, role: 'img', 'aria-label': 'latency per minute' });
  const key = (cls, text) => h('span', { class: `key ${cls}`, text });
  const charts = h('section', { class: 'charts' },
    h('figure', { class: 'card' }, h('figcaption', {}, 'Events per minute, last hour ', key('k-events', 'events'), key('k-fail', 'dead-lettered')), throughput),
    h('figure', { class: 'card' }, h('figcaption', {}, 'Latency per minute, ms ', key('k-p50', 'p50'), key('k-p99', 'p99')), latency));
  const quarantine = h('section', { id: 'quarantine', class: 'card alert' });
  const dlq = listSection('dlq', 'Dead letters',
    [['ID'], ['Object'], ['Code'], ['Reason'], ['Attempts', 'num'], ['Failed at'], ['']], 'No dead letters.');
  const failures = listSection('failures', 'Recent failures and warnings',
    [['Time'], ['Status'], ['Object'], ['Action'], ['Code'], ['Reason']], 'No failure recorded.');
  // Shown while the app is in dry run or a dry run decided something lately.
  const dryRun = listSection('dry-run', 'Dry run: what would be sent',
    [['Time'], ['Status'], ['Object'], ['Action'], ['Code'], ['Reason']], 'No dry-run decision yet.');
  const staged = listSection('staged', 'Staged deletes',
    [['Object'], ['Action'], ['Event'], ['Staged at'], ['Waiting behind', 'num']], 'Nothing staged.');
  const stagedActions = h('div', { class: 'actions' });
  staged.table.before(stagedActions);
  // Deleted users' accounts, disabled, waiting for their hard delete (hard_delete_after_days).
  const scheduled = listSection('scheduled', 'Scheduled hard deletes',
    [['Object'], ['Due at'], ['']], 'No hard delete scheduled.');
  const el = h('div', {}, h('a', { class: 'back', href: '#/', text: '← All apps' }), head, summary, charts,
    dlq.el, failures.el, dryRun.el, staged.el, scheduled.el);
  let last = null;

  function renderHead(a) {
    if (!changed(head, [a.state, a.dry_run, a.last_success, a.window_minutes])) return;
    head.replaceChildren(h('h1', {}, h('span', { class: 'appid', text: id }), badge(a.state),
      a.dry_run ? h('span', { class: 'tag', text: 'dry run' }) : null),
      h('p', { class: 'muted', text: `last success ${when(a.last_success)} · figures over the last ${a.window_minutes} min` }));
  }

  function renderSummary(a) {
    if (!changed(summary, a)) return;
    summary.replaceChildren(...SUMMARY_NUMBERS.map(([f, label, format, hot]) =>
      h('div', { class: 'stat' }, h('span', { class: 'label', text: label }), num('span', f, a[f], format, hot))));
  }

  function renderQuarantine(q) {
    if (!q) { quarantine.remove(); sigs.delete(quarantine); return; }
    if (!quarantine.isConnected) summary.after(quarantine);
    if (!changed(quarantine, q)) return;
    const button = h('button', { class: 'clear-quarantine', type: 'button', text: 'Clear quarantine' });
    button.addEventListener('click', () => act(button, 'clearing…', `${base}/quarantine/clear`, null,
      () => notice(`Quarantine of ${id} cleared.`)));
    quarantine.replaceChildren(h('h2', { text: 'Quarantined' }),
      h('dl', {}, h('dt', { text: 'Code' }), h('dd', { text: q.code }), h('dt', { text: 'Reason' }), h('dd', { text: q.reason }),
        h('dt', { text: 'Since' }), h('dd', { text: when(q.since) }), h('dt', { text: 'Next probe' }), h('dd', { text: when(q.next_probe) })),
      button);
  }

  function replayButton(e) {
    const r = replays.get(e.id);
    const b = h('button', { class: 'replay', type: 'button', disabled: !e.replayable || !!r,
      title: !e.replayable ? 'the original record is not stored: it cannot be sent again' : r ? 'waiting for the outcome' : null,
      text: r ? (r.state === 'sending' ? 'replaying…' : 'sent') : 'Replay' });
    b.addEventListener('click', () => replay(e.id));
    return b;
  }

  async function replay(entry) {
    replays.set(entry, { state: 'sending', at: Date.now() });
    renderDlq(last);
    try {
      await post(`${base}/dlq/${encodeURIComponent(entry)}/replay`);
      replays.set(entry, { state: 'sent', at: Date.now() });
      errors.action = '';
      notice(`Dead letter ${entry}: sent; waiting for the outcome.`);
    } catch (e) {
      replays.delete(entry);
      errors.action = `Replay of ${entry}: ${e.message}`;
    }
    showErrors();
    renderDlq(last);
    refreshNow();
  }

  function renderDlq(doc) {
    const rows = doc.dlq || [];
    const listed = new Set(rows.map((e) => e.id));
    for (const [entry, r] of replays) {
      if (r.state !== 'sent') continue;
      if (!listed.has(entry)) { replays.delete(entry); notice(`Dead letter ${entry} left the list.`); }
      else if (Date.now() - r.at > SENT_HOLD_MS) replays.delete(entry);
    }
    syncRows(dlq.tbody, rows, 'data-entry', (e) => e.id, (e) => h('tr', {},
      h('td', { class: 'mono', text: e.id }), h('td', { text: e.object }),
      h('td', { class: 'code', title: [e.error_class, e.http_status].filter(Boolean).join(' · ') || null, text: e.code }),
      h('td', { class: 'reason', title: e.reason, text: e.reason }), num('td', 'attempts', e.attempts, fmt.int),
      h('td', { title: e.failed_at, text: when(e.failed_at) }), h('td', { class: 'act' }, replayButton(e))),
    (e) => [e, replays.get(e.id)?.state || '']);
    const total = doc.dlq_total ?? rows.length;
    dlq.show(rows.length, total > rows.length ? `${fmt.int(rows.length)} oldest of ${fmt.int(total)}` : fmt.int(total));
  }

  function renderFailures(list) {
    syncRows(failures.tbody, list, 'data-log', (r) => r.log_id || `${r.changed_at}|${r.event_id}`, (r) =>
      h('tr', { class: `failure status-${String(r.status).toLowerCase()}` },
        h('td', { title: r.changed_at, text: when(r.changed_at) }), h('td', { text: r.status }), h('td', { text: objectOf(r) }),
        h('td', { text: r.entra_action }), h('td', { class: 'code', text: r.error_code || r.skip_reason || '—' }),
        h('td', { class: 'reason', title: r.reason, text: r.reason })));
    failures.show(list.length, list.length ? fmt.int(list.length) : '');
  }

  function renderDryRun(a, list) {
    dryRun.el.hidden = !a.dry_run && list.length === 0;
    syncRows(dryRun.tbody, list, 'data-log', (r) => r.log_id || `${r.changed_at}|${r.event_id}`, (r) =>
      h('tr', { class: `dry-run status-${String(r.status).toLowerCase()}` },
        h('td', { title: r.changed_at, text: when(r.changed_at) }),
        h('td', {}, r.status, h('span', { class: 'tag', text: 'dry run' })), h('td', { text: objectOf(r) }),
        h('td', { text: r.entra_action }), h('td', { class: 'code', text: r.error_code || r.skip_reason || '—' }),
        h('td', { class: 'reason', title: r.reason, text: r.reason })));
    dryRun.show(list.length, list.length ? fmt.int(list.length) : '');
  }

  function renderStaged(s) {
    const ops = s.operations || [];
    // What waits for an operator (the document's `counted` is what the window already sent).
    const waiting = ops.length;
    syncRows(staged.tbody, ops, 'data-op', (o) => `${o.object}|${o.action}|${o.event_id}`, (o) => h('tr', {},
      h('td', { text: o.object }), h('td', { text: o.action }), h('td', { class: 'mono', text: o.event_id }),
      h('td', { title: o.staged_at, text: when(o.staged_at) }), num('td', 'waiting_behind', o.waiting_behind, fmt.int)));
    staged.show(ops.length, waiting ? fmt.int(waiting) : '', waiting > 0);
    if (!changed(stagedActions, waiting > 0)) return;
    stagedActions.replaceChildren();
    if (waiting === 0) return;
    const allow = h('button', { class: 'allow-deletes danger', type: 'button', text: 'Allow: send them' });
    const discard = h('button', { class: 'discard-deletes', type: 'button', text: 'Discard' });
    allow.addEventListener('click', () => {
      if (!confirm(`Send the staged disables and deletes of ${id} to its target?`)) return;
      act(allow, 'sending…', `${base}/deletes/allow`, null, () => notice(`Staged deletes of ${id} sent.`));
    });
    discard.addEventListener('click', () => {
      if (!confirm(`Discard the staged disables and deletes of ${id}? They are recorded as skipped and nothing is sent.`)) return;
      act(discard, 'discarding…', `${base}/deletes/discard`, null, () => notice(`Staged deletes of ${id} discarded.`));
    });
    stagedActions.append(allow, discard);
  }

  function renderScheduled(list) {
    syncRows(scheduled.tbody, list, 'data-hd', (s) => `${s.object}|${s.due_at}|${s.discarded}`, (s) => h('tr', {},
      h('td', { text: s.object }), h('td', { title: s.due_at, text: s.due_at }),
      h('td', { text: s.discarded ? 'discarded' : '' })));
    scheduled.show(list.length, list.length ? fmt.int(list.length) : '');
  }

  function render(doc) {
    last = doc;
    const a = doc.app || {};
    renderHead(a);
    renderSummary(a);
    renderQuarantine(a.quarantine);
    const minutes = doc.minutes || [];
    if (changed(throughput, minutes)) { drawThroughput(throughput, minutes); drawLatency(latency, minutes); }
    renderDlq(doc);
    renderFailures(doc.failures || []);
    renderDryRun(a, doc.dry_run_decisions || []);
    renderStaged(doc.staged || {});
    renderScheduled((doc.staged || {}).scheduled || []);
  }
  head.append(h('h1', {}, h('span', { class: 'appid', text: id })));
  return { key: `app:${id}`, title: `${id} · provbridge ops`, path: base, el, render };
}

// ---- routing and the refresh loop

function route() {
  const m = /^#\/apps\/([^?&]+)/.exec(location.hash);
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch { return null; }
}

let view = null;
function ensureView() {
  const app = route();
  const key = app === null ? 'fleet' : `app:${app}`;
  if (view && view.key === key) return view;
  view = app === null ? fleetView() : appView(app);
  document.title = view.title;
  $('#view').replaceChildren(view.el);
  return view;
}

async function refresh() {
  const v = ensureView();
  try {
    const doc = await request(v.path);
    if (v !== view) return;  // the operator moved on while this was in flight
    v.render(doc);
    errors.fetch = '';
    $('#updated').textContent = `updated ${clock(new Date())}`;
    $('#updated').classList.remove('stale');
  } catch (e) {
    if (v !== view) return;
    errors.fetch = `Cannot read ${v.path}: ${e.message}`;
    $('#updated').classList.add('stale');
  }
  showErrors();
}

// One request at a time: a slow server gets the next one only after it answered.
let timer = 0, busy = false, again = false;
async function loop() {
  clearTimeout(timer);
  busy = true;
  again = false;
  if (!document.hidden) await refresh();
  busy = false;
  timer = setTimeout(loop, again ? 0 : REFRESH_MS);
}
function refreshNow() {
  if (busy) again = true;
  else loop();
}

window.addEventListener('hashchange', () => {
  captureToken();
  errors.action = '';
  ensureView();
  showErrors();
  refreshNow();
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshNow(); });

captureToken();
loop();
