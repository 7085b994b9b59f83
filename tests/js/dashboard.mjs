// The dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core), against a
// running server with two rounds of forms. Run by tests/tests/api/dashboard.rs, which seeds the
// forms, creates the province reviewer and compares what the page showed with the API.
//
// Environment: SIPAS_URL, SIPAS_USER, SIPAS_PASSWORD, SIPAS_SHOTS, CHROMIUM, SIPAS_PROVINCE.
//
// The story, at 1366 × 768 and again at 360 × 800: log in as the province reviewer; the page opens
// on their province in the newest round compared with the previous one; read the indices table,
// the groups chart, the league table; switch to the previous round; download a report and the
// form data. No console errors, no request to another host, no horizontal scrolling of the page.
// Prints one JSON line with what the page showed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.SIPAS_URL;
const SHOTS = process.env.SIPAS_SHOTS || 'target/screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PROVINCE = process.env.SIPAS_PROVINCE;
mkdirSync(SHOTS, { recursive: true });

const report = { views: [], checks: [] };
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  report.checks.push(what);
};

/** What the page shows now: the unit, the SIPAS figure, every indices row, league and sub-units. */
async function shown(page) {
  return page.evaluate(() => {
    const rows = (sel, attr) =>
      Object.fromEntries([...document.querySelectorAll(`${sel} tbody tr`)].map((tr) => [tr.dataset[attr], tr.querySelector('td[data-value]')?.dataset.value ?? null]));
    return {
      round: document.querySelector('#round').value,
      with: document.querySelector('#with').value,
      unit: document.querySelector('#unit').value,
      units: [...document.querySelectorAll('#unit option')].map((o) => o.value),
      sipas: document.querySelector('#sipas-value')?.dataset.value ?? null,
      change: document.querySelector('#sipas-change')?.textContent ?? null,
      rank: document.querySelector('#rank')?.textContent ?? null,
      indices: rows('#indices-table', 'key'),
      items: rows('#items-table', 'key'),
      league: rows('#league-table', 'unit'),
      subunits: rows('#subunits-table', 'unit'),
      withheld_notes: document.querySelectorAll('.withheld-note').length,
      chart_bars: document.querySelectorAll('#groups-chart rect.bar').length,
      league_bars: document.querySelectorAll('#league-chart rect.bar').length,
      targets: Object.fromEntries([...document.querySelectorAll('#targets-table tbody tr')].map((tr) => [tr.dataset.target, tr.dataset.status])),
      tasks: document.querySelectorAll('.plan-table tbody tr').length,
      quality_signals: Object.fromEntries([...document.querySelectorAll('#quality-signals tbody tr[data-signal]')].map((tr) => [tr.dataset.signal, tr.children[1].textContent])),
      quality_enumerators: document.querySelectorAll('#quality-enumerators tbody tr').length,
      quality_thresholds: document.querySelector('#quality-thresholds')?.textContent ?? null,
    };
  });
}

async function noHorizontalScroll(page, where) {
  const { sw, cw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  check(sw <= cw, `no horizontal scroll (${where}: ${sw} <= ${cw})`);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
let exit = 0;
const errors = [];
const foreign = [];
try {
  for (const [width, height] of [[1366, 768], [360, 800]]) {
    const context = await browser.newContext({ viewport: { width, height }, locale: 'vi-VN', acceptDownloads: true });
    // Any request to another host is counted and refused.
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.origin !== new URL(BASE).origin) {
        foreign.push(u.href);
        return route.abort();
      }
      return route.fallback();
    });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const urls = [];
    page.on('request', (r) => urls.push(r.url()));
    await page.goto(`${BASE}/dashboard/`);
    await page.fill('#username', process.env.SIPAS_USER);
    await page.fill('#password', process.env.SIPAS_PASSWORD);
    await page.click('#login');
    await page.waitForSelector('#indices-table', { timeout: 30000 });
    await page.waitForSelector('#groups-chart');
    await page.waitForSelector('#league-table');
    const first = await shown(page);
    check(first.unit === PROVINCE, `opens on the reviewer's province (${first.unit})`);
    await noHorizontalScroll(page, `${width}: the province`);
    await page.screenshot({ path: join(SHOTS, `dashboard-${width}x${height}.png`) });
    await page.screenshot({ path: join(SHOTS, `dashboard-${width}x${height}-full.png`), fullPage: true });

    // Switch to the previous round (no comparison there).
    const previous = first.with;
    await page.selectOption('#round', previous);
    await page.waitForFunction((r) => document.querySelector('#round').value === r && document.querySelector('#indices-table'), previous);
    await page.waitForFunction(() => !document.querySelector('#loading'));
    const second = await shown(page);
    await noHorizontalScroll(page, `${width}: the previous round`);

    // Downloads: the report (HTML) and the form data (zip), through the API with the session's token.
    const downloads = [];
    for (const id of ['#report-html', '#export-csv']) {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click(id)]);
      const name = dl.suggestedFilename();
      const path = join(SHOTS, `dashboard-${width}-${name}`);
      await dl.saveAs(path);
      downloads.push({ button: id, name, path });
    }
    check(urls.every((u) => !/token=|access_token|refresh_token/.test(u)), 'no token in any URL');
    // English switch.
    await page.click('#lang');
    await page.waitForFunction(() => document.querySelector('#title').textContent === 'SIPAS · Dashboard');
    await page.waitForSelector('#indices-table');
    await noHorizontalScroll(page, `${width}: in English`);
    report.views.push({ width, first, second, downloads });
    await context.close();
  }
  check(foreign.length === 0, `no request to another host (${foreign.join(', ')})`);
  check(errors.length === 0, `no errors in the page (${errors.join(' | ')})`);
  report.ok = true;
} catch (e) {
  report.ok = false;
  report.error = String(e && e.stack ? e.stack : e);
  report.page_errors = errors;
  exit = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(exit);
