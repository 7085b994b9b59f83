// Figures for the enumerator app, printed, not asserted (run by `cargo bench -p sipas-e2e --bench
// app`, which starts the server and the enumerator):
// - the app's size: each file of server/app/ and the JS + CSS total, raw and gzip -9;
// - in headless Chromium at 360 × 800: time to open a new SIPAS form, to render its first
//   section, and to save a draft (median of 7);
// - sync of 500 queued forms against the local server (one click to all accepted).
//
// Environment: as browser.mjs (SIPAS_URL, SIPAS_USER, SIPAS_PASSWORD, CHROMIUM).

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const BASE = process.env.SIPAS_URL;
const APP = join(dirname(fileURLToPath(import.meta.url)), '../../server/app');
const N = Number(process.env.SIPAS_BENCH_FORMS || 500);

let jsCss = 0;
let jsCssGz = 0;
let allGz = 0;
console.log('file                      bytes    gzip');
for (const f of readdirSync(APP).sort()) {
  if (f === 'package.json') continue;
  const raw = readFileSync(join(APP, f));
  const gz = gzipSync(raw, { level: 9 }).length;
  allGz += gz;
  if (/\.(js|css)$/.test(f)) {
    jsCss += raw.length;
    jsCssGz += gz;
  }
  console.log(`${f.padEnd(22)} ${String(raw.length).padStart(8)} ${String(gz).padStart(7)}`);
}
console.log(`JS + CSS: ${jsCss} bytes, ${jsCssGz} gzip (aim ≤ 200 KB); every file: ${allGz} gzip`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 360, height: 800 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(`${BASE}/app/`);
  await page.fill('#username', process.env.SIPAS_USER);
  await page.fill('#password', process.env.SIPAS_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#new-form');
  await page.waitForFunction(() => document.querySelector('#banner').className.includes('ok'));

  const open = [];
  const first = [];
  const save = [];
  for (let i = 0; i < 7; i++) {
    let t0 = performance.now();
    await page.click('#new-form');
    await page.waitForSelector('select#province');
    open.push(performance.now() - t0);
    t0 = performance.now();
    await page.click('#next');
    await page.waitForSelector('fieldset.q[data-code="age"]');
    first.push(performance.now() - t0);
    await page.fill('fieldset.q[data-code="age"] input', '40');
    t0 = performance.now();
    await page.click('#save-draft');
    await page.waitForFunction(() => document.querySelector('#saved').textContent.length > 0);
    save.push(performance.now() - t0);
    await page.click('#back');
    await page.waitForSelector('#new-form');
  }
  console.log(
    `open a new SIPAS form: ${median(open).toFixed(0)} ms; render its first section: ${median(first).toFixed(0)} ms; save a draft: ${median(save).toFixed(0)} ms (medians of 7)`,
  );

  // N ready forms in the outbox: copies of a complete SIPAS form, each with its own id and hash.
  await context.setOffline(true);
  const made = await page.evaluate(async (n) => {
    const store = await import('./store.js');
    const { contentHash, rfc3339, uuidv7 } = await import('./hash.js');
    const hs = await store.getMeta('handshake');
    const round = hs.rounds.find((r) => r.status === 'open');
    const commune = round.units.find((u) => u.level === 'commune');
    const q = (await store.getQuestionnaire(round.questionnaire_code, round.questionnaire_version)).definition;
    const answers = {};
    for (const s of q.sections)
      for (const x of s.questions) {
        const k = x.kind;
        if (x.relevant || x.required === false) continue;
        if (k.type === 'single_choice') answers[x.code] = k.options[0].code;
        else if (k.type === 'multiple_choice') answers[x.code] = [k.options[0].code];
        else if (k.type === 'grid') answers[x.code] = Object.fromEntries(k.items.map((it) => [it.code, 4]));
        else if (k.type === 'level') answers[x.code] = 4;
        else if (k.type === 'integer') answers[x.code] = 40;
        else if (k.type === 'text') answers[x.code] = '000';
      }
    for (let i = 0; i < n; i++) {
      const id = uuidv7();
      const submission = {
        id,
        round: round.code,
        questionnaire_code: round.questionnaire_code,
        questionnaire_version: round.questionnaire_version,
        revision: 1,
        units: { province: commune.parent, commune: commune.code, village: 'Bản Bench' },
        household_ref: `B-${i}`,
        started_at: rfc3339(new Date()),
        finished_at: rfc3339(new Date()),
        answers,
      };
      await store.putForm({ id, order: await store.nextOrder(), state: 'ready', submission, content_hash: await contentHash(submission), round: round.code, units: submission.units, household_ref: submission.household_ref, answers, created_at: new Date().toISOString() });
    }
    return (await store.formsIn('ready')).length;
  }, N);
  await context.setOffline(false);
  // The app syncs on its own when the network returns.
  const t0 = performance.now();
  for (;;) {
    const open = await page.evaluate(async () => {
      const store = await import('./store.js');
      return (await store.formsIn('ready')).length + (await store.formsIn('in_flight')).length;
    });
    if (open === 0) break;
    if (performance.now() - t0 > 600000) throw new Error(`${open} forms still unsent after 10 min`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const syncMs = performance.now() - t0;
  const { synced, failed, problem } = await page.evaluate(async () => {
    const store = await import('./store.js');
    const f = await store.formsIn('failed');
    return { synced: (await store.formsIn('synced')).length, failed: f.length, problem: f[0] && JSON.stringify([f[0].outcome, f[0].problems]) };
  });
  console.log(`sync of ${made} queued forms: ${syncMs.toFixed(0)} ms (${(made / (syncMs / 1000)).toFixed(0)} forms/s), ${synced} accepted, ${failed} refused ${problem || ''}`);
  if (synced !== made) process.exitCode = 1;
} finally {
  await browser.close();
}
