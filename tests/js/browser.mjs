// The enumerator app in headless Chromium (Debian's `chromium`, driven by playwright-core), on a
// 360 × 800 phone viewport, against a running server. Run by tests/tests/api/app.rs, which starts
// the server, creates the enumerator and checks what the server holds afterwards.
//
// Environment: SIPAS_URL, SIPAS_USER, SIPAS_USER_ID, SIPAS_PASSWORD, SIPAS_ADMIN, SIPAS_ADMIN_PASSWORD,
// SIPAS_SHOTS (folder for screenshots), CHROMIUM (default /usr/bin/chromium).
//
// The story: log in; fill a SIPAS form online (it syncs); cut the network; fill three more and
// reload the page offline (the service worker serves the app, IndexedDB holds the forms); restore
// the network (the app syncs on its own); the server holds exactly four forms. Then a push whose
// answer is lost after the server committed (the test drops it): the app reconciles through
// `status` and shows the form accepted without resending it. Then a form the server finds invalid
// (the test changes it in flight): it comes back as needing attention with the server's reason.
// Assignments made by the ministry reach the device through pull: the app lists them with their
// quantities, counts the forms against them and starts a form in an assigned village. Then a
// supervisor-side rejection: the app shows the returned form with the comment, the enumerator
// corrects it and it goes back as revision 2 of the same form.
// Then the device is revoked: the next sync says so. On every view: no horizontal scrolling.
// Prints one JSON line with what it did and the timings it measured.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.SIPAS_URL;
const USER = process.env.SIPAS_USER;
const USER_ID = Number(process.env.SIPAS_USER_ID);
const PASSWORD = process.env.SIPAS_PASSWORD;
const ADMIN_USER = process.env.SIPAS_ADMIN;
const ADMIN_PASSWORD = process.env.SIPAS_ADMIN_PASSWORD;
const SHOTS = process.env.SIPAS_SHOTS || 'target/screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ROUND = 'sipas-2025';

mkdirSync(SHOTS, { recursive: true });
const report = { forms: [], timings: {}, checks: [] };
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  report.checks.push(what);
};
const ms = (t0) => Math.round(performance.now() - t0);

/** A fresh ministry token (the test server's access tokens live 3 s). */
async function admin() {
  const r = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ADMIN_USER, password: ADMIN_PASSWORD }),
  });
  if (!r.ok) throw new Error(`admin login: ${r.status}`);
  return (await r.json()).access_token;
}

async function serverForms() {
  const r = await fetch(`${BASE}/api/v1/rounds/${ROUND}/forms?limit=1000`, {
    headers: { authorization: `Bearer ${await admin()}` },
  });
  if (!r.ok) throw new Error(`list forms: ${r.status}`);
  return (await r.json()).forms;
}

/** A call as the ministry; answers the parsed body (throws unless 2xx). */
async function asAdmin(method, path, body) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${await admin()}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** What the app shows of each assignment: {village: {quantity, outstanding, text}}. */
async function shownAssignments(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('#assignments li.assignment')].map((li) => [
        li.querySelector('.item-title').textContent.split(' · ')[0],
        { quantity: Number(li.dataset.quantity), outstanding: Number(li.dataset.outstanding), text: li.innerText },
      ]),
    ),
  );
}

/** Opens a returned form, changes the age where it is asked, and finishes it. */
async function correctAge(page, household, age) {
  await page.click(`#forms li.form-item[data-state="returned"]:has-text("${household}") .fix-returned`);
  await page.waitForSelector('select#province');
  for (;;) {
    const card = page.locator('fieldset.q[data-code="age"]:visible');
    if ((await card.count()) > 0) await card.locator('input').fill(String(age));
    if ((await page.locator('#finish').count()) > 0) break;
    await page.click('#next');
  }
  await page.click('#finish');
  await page.waitForSelector('#forms');
}

async function noHorizontalScroll(page, where) {
  const { sw, cw } = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth,
    cw: document.documentElement.clientWidth,
  }));
  check(sw <= cw, `no horizontal scroll (${where}: ${sw} <= ${cw})`);
}

async function waitStates(page, want, timeout = 30000) {
  // want: {state: count}
  await page.waitForFunction(
    (w) => {
      const items = [...document.querySelectorAll('#forms li.form-item')];
      return Object.entries(w).every(([s, n]) => items.filter((i) => i.dataset.state === s).length === n);
    },
    want,
    { timeout },
  );
}

/** Fills the visible questions of the current section the way an enumerator taps them. */
async function fillSection(page, form) {
  const cards = page.locator('fieldset.q:visible');
  const n = await cards.count();
  for (let i = 0; i < n; i++) {
    const card = cards.nth(i);
    if (!(await card.isVisible())) continue;
    const code = await card.getAttribute('data-code');
    if (code === 'age') {
      await card.locator('input').fill(String(form.age));
      continue;
    }
    if (code === 'gender') {
      await card.locator(`label.choice:has(input[value="${form.gender}"])`).click();
      continue;
    }
    if (code === 'c8_experiences') {
      await card.locator(`label.choice:has(input[value="${form.desk ? 'commune_desk' : 'health_care'}"])`).click();
      continue;
    }
    const texts = card.locator('input[type="text"]');
    for (let k = 0; k < (await texts.count()); k++) {
      const t = texts.nth(k);
      if ((await t.inputValue()) === '') await t.fill('000');
    }
    // Each radio group (a single choice, a level, or one grid row): one tap if none is chosen.
    const groups = card.locator('[role="radiogroup"]');
    for (let g = 0; g < (await groups.count()); g++) {
      const group = groups.nth(g);
      if ((await group.locator('input:checked').count()) > 0) continue;
      const choices = group.locator('label.choice');
      const count = await choices.count();
      const levels = await group.evaluate((el) => el.classList.contains('levels'));
      await choices.nth(levels ? Math.min(form.level - 1, count - 1) : 0).click();
    }
    const boxes = card.locator('[role="group"]');
    for (let g = 0; g < (await boxes.count()); g++) {
      const group = boxes.nth(g);
      if ((await group.locator('input:checked').count()) > 0) continue;
      await group.locator('label.choice:not(.exclusive)').first().click();
    }
  }
}

/** Starts a new form, fills every section and finishes it; returns the form's timings. */
async function fillForm(page, form, { shots = false } = {}) {
  let t0 = performance.now();
  await page.click('#new-form');
  await page.waitForSelector('select#province');
  const openMs = ms(t0);
  await page.selectOption('select#province', { index: 1 });
  await page.waitForFunction(() => document.querySelector('select#commune').options.length > 1);
  await page.selectOption('select#commune', { index: form.commune });
  await page.fill('#village', form.village);
  await page.fill('#household', form.household);
  t0 = performance.now();
  await page.click('#save-draft');
  await page.waitForFunction(() => document.querySelector('#saved').textContent.length > 0);
  const draftMs = ms(t0);
  await noHorizontalScroll(page, 'form header');
  let sectionNo = 0;
  for (;;) {
    await page.click('#next');
    sectionNo++;
    await fillSection(page, form);
    await noHorizontalScroll(page, `form section ${sectionNo}`);
    if (shots && sectionNo === 3) await page.screenshot({ path: join(SHOTS, 'form-360x800.png') });
    if ((await page.locator('#finish').count()) > 0) break;
  }
  await page.click('#finish');
  await page.waitForSelector('#forms');
  return { openMs, draftMs };
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let exit = 0;
const errors = [];
let page = null;
try {
  const context = await browser.newContext({
    viewport: { width: 360, height: 800 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'vi-VN',
    serviceWorkers: 'allow',
  });
  // While "offline", nothing may reach the server, not even from the service worker.
  let offline = false;
  let leaked = 0;
  await context.route(`${BASE}/**`, (route) => {
    if (offline) {
      leaked++;
      return route.abort('internetdisconnected');
    }
    return route.fallback();
  });
  page = await context.newPage();
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  page.on('pageerror', (e) => errors.push(String(e)));
  // The browser logs every failed request (the 401s before a refresh, the dropped answer): those
  // are the story; anything else logged as an error is not.
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));

  // Log in (online).
  await page.goto(`${BASE}/app/`);
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#new-form', { timeout: 30000 });
  await page.waitForFunction(() => document.querySelector('#banner').className.includes('ok'), null, { timeout: 30000 });
  await noHorizontalScroll(page, 'forms list');
  check(
    requests.every((r) => !/token=|access_token|refresh_token/.test(r.url)),
    'no token in any URL',
  );
  await page.evaluate(() => navigator.serviceWorker.ready);

  // The ministry assigns two villages of the first commune pair the form header offers: one with
  // a household list, one with a quantity. They arrive with the next sync.
  const place = await page.evaluate(async () => {
    const hs = await (await import('./store.js')).getMeta('handshake');
    const r = hs.rounds.find((x) => x.code === 'sipas-2025');
    const province = r.units.find((u) => u.level === 'province').code;
    const communes = r.units.filter((u) => u.level === 'commune' && u.parent === province).map((u) => u.code);
    return { province, communes };
  });
  await asAdmin('POST', `/api/v1/rounds/${ROUND}/assignments`, {
    assignments: [
      { enumerator_id: USER_ID, commune: place.communes[0], village: 'Bản Nà Khương', household_refs: ['HH-001', 'HH-002', 'HH-005', 'HH-007'] },
      { enumerator_id: USER_ID, commune: place.communes[1], village: 'Bản Pa Pe', quantity: 3 },
    ],
  });

  // One form online: it is sent at once.
  const forms = [
    { household: 'HH-001', age: 46, gender: 'female', desk: true, level: 4, commune: 1, village: 'Bản Nà Khương' },
    { household: 'HH-002', age: 33, gender: 'male', desk: false, level: 5, commune: 1, village: 'Bản Nà Khương' },
    { household: 'HH-003', age: 71, gender: 'female', desk: true, level: 3, commune: 2, village: 'Bản Pa Pe' },
    { household: 'HH-004', age: 19, gender: 'male', desk: false, level: 2, commune: 2, village: 'Bản Pa Pe' },
  ];
  const first = await fillForm(page, forms[0], { shots: true });
  report.timings.open_form_ms = first.openMs;
  report.timings.save_draft_ms = first.draftMs;
  await waitStates(page, { synced: 1 });
  await page.waitForFunction(() => document.querySelectorAll('#assignments li.assignment').length === 2, null, { timeout: 30000 });
  let shown = await shownAssignments(page);
  check(
    shown['Bản Nà Khương'].quantity === 4 && shown['Bản Nà Khương'].outstanding === 3 && shown['Bản Pa Pe'].outstanding === 3,
    `assignments pulled and counted: ${JSON.stringify(shown)}`,
  );
  check(/HH-007/.test(shown['Bản Nà Khương'].text) && !/HH-001/.test(shown['Bản Nà Khương'].text), 'the households left are listed');
  await page.screenshot({ path: join(SHOTS, 'assignments-360x800.png') });
  await noHorizontalScroll(page, 'assignments');

  // Cut the network; three more forms, then reload while offline.
  offline = true;
  await context.setOffline(true);
  await page.waitForFunction(() => !navigator.onLine);
  for (const f of forms.slice(1)) await fillForm(page, f);
  await waitStates(page, { synced: 1, ready: 3 });
  await page.reload();
  await page.waitForSelector('#forms');
  await waitStates(page, { synced: 1, ready: 3 });
  check(true, 'reloaded offline: the app and its 4 forms are there');
  await page.screenshot({ path: join(SHOTS, 'forms-offline-360x800.png') });
  await noHorizontalScroll(page, 'forms list offline');

  // Network back: the app syncs on its own.
  const pushesBefore = requests.filter((r) => r.url.endsWith('/api/v1/sync/push')).length;
  offline = false;
  await context.setOffline(false);
  await waitStates(page, { synced: 4 }, 60000);
  check(
    requests.filter((r) => r.url.endsWith('/api/v1/sync/push')).length > pushesBefore,
    'synced when the network returned',
  );
  const held = await serverForms();
  check(held.length === 4, `the server holds exactly 4 forms (${held.length})`);
  // The app's content hashes (hash.js) are the server's (FormSubmission::content_hash).
  const hashes = await page.evaluate(async () =>
    (await (await import('./store.js')).listForms()).map((f) => [f.content_hash, f.server_hash]),
  );
  check(
    hashes.length === 4 && hashes.every(([mine, server]) => mine && mine === server),
    'the app computes the server\'s content hash for every form',
  );
  check(
    held.every((f) => hashes.some(([mine]) => mine === f.content_hash)),
    'the server stored the content the app hashed',
  );
  report.forms = forms.map((f) => ({ household: f.household, age: f.age, gender: f.gender, desk: f.desk, level: f.level }));
  await page.screenshot({ path: join(SHOTS, 'forms-synced-360x800.png') });

  // A push whose answer is lost after the server committed it.
  let dropped = 0;
  await page.route('**/api/v1/sync/push', async (route) => {
    if (dropped === 0) {
      dropped++;
      await route.fetch(); // the server stores the batch and answers; the answer never arrives
      return route.abort('connectionreset');
    }
    return route.fallback();
  });
  const lost = { household: 'HH-005', age: 52, gender: 'female', desk: false, level: 4, commune: 1, village: 'Bản Nà Khương' };
  const pushes0 = requests.filter((r) => r.url.endsWith('/api/v1/sync/push')).length;
  await fillForm(page, lost);
  await waitStates(page, { synced: 5 }, 60000);
  await page.unroute('**/api/v1/sync/push');
  const pushesAfter = requests.filter((r) => r.url.endsWith('/api/v1/sync/push'));
  const statusCalls = requests.filter((r) => r.url.endsWith('/api/v1/sync/status')).length;
  check(dropped === 1, 'one push answer was dropped');
  check(pushesAfter.length - pushes0 === 1, `the form was not resent (${pushesAfter.length - pushes0} push)`);
  check(statusCalls >= 1, 'reconciled through status');
  check((await serverForms()).length === 5, 'the server holds 5 forms after the lost answer');
  report.forms.push({ household: lost.household, age: lost.age, gender: lost.gender, desk: lost.desk, level: lost.level });

  // A form the server finds invalid (changed in flight: age 12).
  await page.route('**/api/v1/sync/push', async (route) => {
    const body = JSON.parse(route.request().postData());
    for (const f of body.forms) f.answers.age = 12;
    return route.fallback({ postData: JSON.stringify(body) });
  });
  const invalid = { household: 'HH-006', age: 40, gender: 'male', desk: false, level: 3, commune: 1, village: 'Bản Nà Khương' };
  await fillForm(page, invalid);
  await waitStates(page, { synced: 5, failed: 1 }, 60000);
  await page.unroute('**/api/v1/sync/push');
  const failedText = await page.locator('#forms li.form-item[data-state="failed"]').innerText();
  check(/18/.test(failedText) && /age/.test(failedText), `needs attention with the server's reason: ${failedText.replace(/\s+/g, ' ')}`);
  await page.screenshot({ path: join(SHOTS, 'forms-attention-360x800.png') });
  await noHorizontalScroll(page, 'forms list with a form needing attention');

  // Counted against the assignments: HH-001, HH-002 and HH-005 of the list (HH-006 was refused);
  // HH-003 and HH-004 of the 3 in Bản Pa Pe.
  shown = await shownAssignments(page);
  check(
    shown['Bản Nà Khương'].outstanding === 1 && shown['Bản Pa Pe'].outstanding === 1,
    `outstanding after the forms: ${JSON.stringify(shown)}`,
  );
  // Starting a form from an assignment fills its area and the next household on the list.
  await page.click('#assignments li.assignment:has-text("Bản Nà Khương") .start-assignment');
  await page.waitForSelector('select#province');
  const header = await page.evaluate(() => ({
    commune: document.querySelector('select#commune').value,
    village: document.querySelector('#village').value,
    household: document.querySelector('#household').value,
  }));
  check(
    header.commune === place.communes[0] && header.village === 'Bản Nà Khương' && header.household === 'HH-007',
    `a form started from the assignment: ${JSON.stringify(header)}`,
  );
  await page.click('#back');
  await page.waitForSelector('#forms');
  await waitStates(page, { draft: 1, synced: 5, failed: 1 });

  // A reviewer sends HH-002 back: the next sync shows it returned, with the comment.
  const comment = 'Tuổi người trả lời chưa khớp với sổ hộ, đề nghị kiểm tra lại.';
  const hh2 = (await serverForms()).find((f) => f.household_ref === 'HH-002');
  await asAdmin('POST', `/api/v1/forms/${hh2.id}/review`, { action: 'reject', revision: 1, comment });
  await page.click('#sync');
  await waitStates(page, { returned: 1, synced: 4, failed: 1 }, 30000);
  const returnedText = await page.locator('#forms li.form-item[data-state="returned"]').innerText();
  check(returnedText.includes(comment) && returnedText.includes('HH-002'), `returned with the comment: ${returnedText.replace(/\s+/g, ' ')}`);
  check((await page.locator('#returned-count').count()) === 1, 'the home screen says a form was returned');
  await page.locator('#forms li.form-item[data-state="returned"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, 'forms-returned-360x800.png') });
  await noHorizontalScroll(page, 'forms list with a returned form');
  // Corrected and resent: revision 2 of the same form, accepted as `updated`.
  await correctAge(page, 'HH-002', 35);
  await waitStates(page, { returned: 0, synced: 5, failed: 1 }, 60000);
  const after = (await serverForms()).find((f) => f.id === hh2.id);
  check(after && after.revision === 2, `the server holds revision 2 of HH-002 (${after && after.revision})`);
  const hh2Report = report.forms.find((f) => f.household === 'HH-002');
  hh2Report.age = 35;
  hh2Report.revision = 2;
  check((await serverForms()).length === 5, 'still 5 forms after the correction');

  // English switch.
  await page.click('#lang');
  await page.waitForFunction(() => document.querySelector('#sync').textContent === 'Sync');
  await noHorizontalScroll(page, 'forms list in English');
  await page.click('#lang');

  // The device is revoked: the next sync says so, and the forms stay.
  const deviceId = await page.evaluate(async () => (await import('./store.js')).deviceId());
  const rv = await fetch(`${BASE}/api/v1/devices/${encodeURIComponent(deviceId)}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await admin()}`, 'content-type': 'application/json' },
    body: '{}',
  });
  check(rv.ok, `device revoked by the ministry (${rv.status})`);
  await page.click('#sync');
  await page.waitForFunction(() => document.querySelector('#banner').className.includes('error'), null, { timeout: 30000 });
  const revokedText = await page.locator('#banner').innerText();
  check(/thu hồi/.test(revokedText), `revocation told clearly: ${revokedText}`);
  await waitStates(page, { synced: 5, failed: 1 });

  check(leaked >= 0, `${leaked} requests refused while offline`);
  check(errors.length === 0, `no errors in the page (${errors.join(' | ')})`);
  report.refreshes = requests.filter((r) => r.url.endsWith('/api/v1/auth/refresh')).length;
  report.device_id = deviceId;
  report.ok = true;
} catch (e) {
  report.ok = false;
  report.error = String(e && e.stack ? e.stack : e);
  report.page_errors = errors;
  // What the app showed when it stopped: the banner and each listed form's state.
  report.shown = await page
    ?.evaluate(async () => ({
      stored: (await (await import('./store.js')).listForms()).map((f) => `${f.state} ${f.household_ref} r${f.revision}`),
      banner: document.querySelector('#banner')?.textContent,
      forms: [...document.querySelectorAll('#forms li.form-item')].map((li) => `${li.dataset.state}: ${li.innerText.replace(/\s+/g, ' ')}`),
    }))
    .catch((err) => String(err));
  exit = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(exit);
