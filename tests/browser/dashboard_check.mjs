// Drives the ops dashboard in headless Chromium the way an operator would: opens the token
// link, compares the fleet row with the API, checks the app page lists the scheduled hard
// deletes the API lists, replays a dead letter from the app page and
// waits for it to leave. Prints one JSON line; exit 0 when every step passed.
//
//   node dashboard_check.mjs --url http://127.0.0.1:PORT --token TOKEN --app APP \
//        --screenshot OUT.png [--entry DLQ_ENTRY_ID] [--timeout-ms 60000]
// --entry names the dead letter to replay (default: the first one with an enabled button).
// With --dry-run, the app is one in dry run: instead of the fleet row and a replay, its page
// must mark it and list what the dry run decided, row for row as the API does.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import puppeteer from 'puppeteer-core';

const CHROMIUM = process.env.PROVBRIDGE_CHROMIUM || '/usr/bin/chromium';
const TOKEN_KEY = 'provbridge-ops-token';
const COMPARED_FIELDS = ['events_per_second', 'failure_rate', 'latency_p50_ms', 'latency_p99_ms',
  'dlq', 'parked', 'retry_queue', 'lag'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Says what was awaited: puppeteer's own timeout message names only the milliseconds.
const awaiting = (what, promise) => promise.catch((e) => { throw new Error(`${what}: ${e.message}`); });
let step = 'arguments';

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' }, token: { type: 'string' }, app: { type: 'string' },
      screenshot: { type: 'string' }, entry: { type: 'string' }, 'timeout-ms': { type: 'string', default: '60000' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  for (const name of ['url', 'token', 'app', 'screenshot']) {
    if (!values[name]) throw new Error(`--${name} is required`);
  }
  const timeout = Number(values['timeout-ms']);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new Error('--timeout-ms: a positive whole number');
  const out = path.resolve(values.screenshot);
  return { url: values.url.replace(/\/+$/, ''), token: values.token, app: values.app, entry: values.entry, out,
    dryRun: values['dry-run'],
    stem: out.replace(/\.png$/i, ''), timeout };
}

async function api(o, p) {
  const res = await fetch(o.url + p, { cache: 'no-store', signal: AbortSignal.timeout(10000) });
  if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

// Both sides move on a busy bridge, so a mismatch is read again (both sides) a few times.
async function compareFleetRow(page, o) {
  let last = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    if (attempt) await sleep(700);
    const shown = await page.evaluate((app) => {
      const tr = [...document.querySelectorAll('#fleet tr[data-app]')].find((r) => r.dataset.app === app);
      if (!tr) return null;
      return Object.fromEntries([...tr.querySelectorAll('td[data-field][data-value]')]
        .map((td) => [td.dataset.field, td.dataset.value]));
    }, o.app);
    if (!shown) { last = 'the row left the page'; continue; }
    const doc = await api(o, '/api/v1/apps');
    const row = (doc.apps || []).find((a) => a.app === o.app);
    if (!row) throw new Error(`the API lists no app ${o.app}`);
    const missing = COMPARED_FIELDS.filter((f) => !(f in shown));
    if (missing.length) throw new Error(`the row shows no data-value for ${missing.join(', ')}`);
    const diffs = Object.entries(shown).flatMap(([field, value]) => {
      const want = String(field === 'lag' ? doc.lag_total : row[field]);
      return value === want ? [] : [`${field}: page ${value}, API ${want}`];
    });
    if (!diffs.length) return shown;
    last = diffs.join('; ');
  }
  throw new Error(`the fleet row differs from the API: ${last}`);
}

async function pageState(page, entry) {
  return page.evaluate((id) => ({
    row: [...document.querySelectorAll('#dlq tr[data-entry]')].some((r) => r.dataset.entry === id),
    button: [...document.querySelectorAll('#dlq tr[data-entry]')].find((r) => r.dataset.entry === id)
      ?.querySelector('button.replay')?.textContent ?? null,
    actionError: document.querySelector('#error [data-kind="action"]')?.textContent ?? '',
  }), entry);
}

async function replayFirst(page, o, problems) {
  const entry = await page.evaluate((wanted) => [...document.querySelectorAll('#dlq tr[data-entry]')]
    .find((r) => { const b = r.querySelector('button.replay'); return b && !b.disabled && (!wanted || r.dataset.entry === wanted); })
    ?.dataset.entry ?? null, o.entry ?? null);
  if (!entry) throw new Error('no dead letter on the page has an enabled replay button');

  // The row may be redrawn between finding its button and clicking it: find it again and retry.
  let clicked = false;
  for (let attempt = 0; attempt < 3 && !clicked; attempt++) {
    const handle = await page.evaluateHandle((id) => [...document.querySelectorAll('#dlq tr[data-entry]')]
      .find((r) => r.dataset.entry === id)?.querySelector('button.replay') ?? null, entry);
    const button = handle.asElement();
    if (!button) break;
    try { await button.click(); clicked = true; } catch { await sleep(200); }
    await handle.dispose();
  }
  if (!clicked) throw new Error(`could not click the replay button of ${entry}`);

  const deadline = Date.now() + o.timeout;
  let seenBusy = false;
  for (;;) {
    const s = await pageState(page, entry);
    if (s.actionError) throw new Error(`the page reports: ${s.actionError}`);
    if (problems.dialogs.length) throw new Error(`the page asked "${problems.dialogs[0]}" (no token kept?)`);
    if (s.button === 'replaying…' || s.button === 'sent') seenBusy = true;
    if (!s.row) {
      const doc = await api(o, `/api/v1/apps/${encodeURIComponent(o.app)}`);
      if (!(doc.dlq || []).some((e) => e.id === entry)) return { entry, seenBusy };
    }
    if (Date.now() > deadline) {
      throw new Error(`${entry} still ${s.row ? 'on the page' : 'listed by the API'} after ${o.timeout} ms`);
    }
    await sleep(300);
  }
}

// The app page of an app in dry run: the head's tag, and the dry-run list as the API has it.
async function checkDryRun(page, o) {
  await page.evaluate((app) => { location.hash = `#/apps/${encodeURIComponent(app)}`; }, o.app);
  await awaiting('the app head has no "dry run" tag', page.waitForFunction(() =>
    [...document.querySelectorAll('.apphead .tag')].some((t) => t.textContent === 'dry run')));
  await awaiting('no row in #dry-run', page.waitForSelector('#dry-run tr.dry-run'));
  let last = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    if (attempt) await sleep(700);
    const shown = await page.evaluate(() => ({
      visible: !document.querySelector('#dry-run').hidden,
      rows: [...document.querySelectorAll('#dry-run tr.dry-run')].map((r) => r.dataset.log),
      tagged: [...document.querySelectorAll('#dry-run tr.dry-run')].every((r) => r.querySelector('.tag')?.textContent === 'dry run'),
      failures: document.querySelectorAll('#failures tr.failure').length,
    }));
    const doc = await api(o, `/api/v1/apps/${encodeURIComponent(o.app)}`);
    const want = (doc.dry_run_decisions || []).map((r) => r.log_id);
    if (!shown.visible) { last = '#dry-run is hidden'; continue; }
    if (!shown.tagged) throw new Error('a #dry-run row has no "dry run" tag');
    if (shown.failures !== (doc.failures || []).length) { last = `failures: page ${shown.failures}, API ${(doc.failures || []).length}`; continue; }
    if (JSON.stringify(shown.rows) === JSON.stringify(want)) return { dry_run_rows: want.length };
    last = `rows: page ${shown.rows.join(',')}, API ${want.join(',')}`;
  }
  throw new Error(`the dry-run list differs from the API: ${last}`);
}

async function main() {
  const o = options();
  const problems = { pageErrors: [], external: [], dialogs: [] };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'provbridge-chromium-'));
  let browser = null, page = null;
  const screenshots = [];
  // A hung browser must not hang the C++ test that runs this.
  const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ok: false, step, error: 'watchdog: the check took too long' }) + '\n');
    try { browser?.process()?.kill('SIGKILL'); } catch { /* already gone */ }
    process.exit(1);
  }, 3 * o.timeout + 60000);
  try {
    step = 'launch';
    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true, userDataDir,
      args: ['--no-sandbox', '--disable-gpu'], defaultViewport: { width: 1400, height: 1000 },
    });
    page = await browser.newPage();
    page.setDefaultTimeout(o.timeout);
    page.on('pageerror', (e) => problems.pageErrors.push(String(e.message || e)));
    page.on('dialog', (d) => { problems.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    const origin = new URL(o.url).origin;
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('data:')) problems.external.push(u);
    });

    step = 'open';
    await page.goto(`${o.url}/#token=${encodeURIComponent(o.token)}`, { waitUntil: 'domcontentloaded' });
    await awaiting('the page did not take the token out of the address bar',
      page.waitForFunction(() => !location.hash.includes('token=')));
    const opened = await page.evaluate((k) => ({ href: location.href, kept: sessionStorage.getItem(k) }), TOKEN_KEY);
    // A very short token could match any URL by chance ("t" in "http"): only a long one is looked for.
    if (opened.href.includes('token=') || (o.token.length >= 6 && opened.href.includes(o.token))) {
      throw new Error(`the address bar still holds the token: ${opened.href}`);
    }
    if (opened.kept !== o.token) throw new Error('the token was not kept in sessionStorage');

    if (o.dryRun) {
      step = 'dry-run';
      const checked = await checkDryRun(page, o);
      screenshots.push(o.out);
      await page.screenshot({ path: o.out, fullPage: true });
      step = 'page-health';
      if (problems.pageErrors.length) throw new Error(`script errors on the page: ${problems.pageErrors.join(' | ')}`);
      if (problems.external.length) throw new Error(`requests to other origins: ${problems.external.join(' ')}`);
      process.stdout.write(JSON.stringify({ ok: true, app: o.app, ...checked, screenshots }) + '\n');
      return 0;
    }

    step = 'fleet';
    await awaiting(`no row for ${o.app} in #fleet`, page.waitForFunction((app) => [...document.querySelectorAll('#fleet tr[data-app]')]
      .some((r) => r.dataset.app === app && r.querySelector('td[data-value]')), {}, o.app));
    const compared = await compareFleetRow(page, o);

    step = 'fleet-screenshot';
    screenshots.push(`${o.stem}-fleet.png`);
    await page.screenshot({ path: screenshots.at(-1), fullPage: true });

    step = 'app-page';
    await page.evaluate((app) => { location.hash = `#/apps/${encodeURIComponent(app)}`; }, o.app);
    await awaiting('no #summary figures', page.waitForSelector('#summary [data-field][data-value]'));
    await awaiting('no dead letter in #dlq', page.waitForSelector('#dlq tr[data-entry]'));
    await awaiting('#chart-throughput is not drawn', page.waitForSelector('#chart-throughput line'));
    await awaiting('#chart-latency is not drawn', page.waitForSelector('#chart-latency line'));

    step = 'scheduled';
    // The scheduled hard deletes, row for row as the API lists them.
    const wanted = ((await api(o, `/api/v1/apps/${encodeURIComponent(o.app)}`)).staged?.scheduled || [])
      .map((s) => s.object).sort();
    await awaiting(`#scheduled does not list ${wanted.join(', ')}`, page.waitForFunction((objects) => {
      const shown = [...document.querySelectorAll('#scheduled tr[data-hd]')].map((r) => r.cells[0].textContent).sort();
      return JSON.stringify(shown) === JSON.stringify(objects);
    }, {}, wanted));
    const scheduled = wanted;

    step = 'replay';
    const { entry } = await replayFirst(page, o, problems);

    step = 'app-screenshot';
    if (!(await page.$('#chart-throughput line')) || !(await page.$('#chart-latency line'))) throw new Error('the charts are gone');
    screenshots.push(o.out);
    await page.screenshot({ path: o.out, fullPage: true });

    step = 'page-health';
    if (problems.pageErrors.length) throw new Error(`script errors on the page: ${problems.pageErrors.join(' | ')}`);
    if (problems.external.length) throw new Error(`requests to other origins: ${problems.external.join(' ')}`);

    process.stdout.write(JSON.stringify({ ok: true, app: o.app, compared, scheduled, replayed: entry, screenshots }) + '\n');
    return 0;
  } catch (e) {
    const failure = { ok: false, step, error: String(e?.message || e) };
    if (page && o) {
      try {
        await page.screenshot({ path: `${o.stem}-failure.png`, fullPage: true });
        failure.screenshot = `${o.stem}-failure.png`;
      } catch { /* the page is gone */ }
    }
    process.stdout.write(JSON.stringify(failure) + '\n');
    return 1;
  } finally {
    clearTimeout(watchdog);
    if (browser) {
      await Promise.race([browser.close(), sleep(10000)]).catch(() => {});
      try { browser.process()?.kill('SIGKILL'); } catch { /* closed */ }
    }
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

let code = 1;
try {
  code = await main();
} catch (e) {
  // Only the arguments can fail before main's own try: nothing was started.
  process.stdout.write(JSON.stringify({ ok: false, step, error: String(e?.message || e) }) + '\n');
}
process.exit(code);
