// The enumerator app: login, the forms list with their states, the form view, sync. Everything
// the enumerator enters is written to IndexedDB at once (store.js); sync.js sends it when there is
// a network. No inline script: this module is loaded by index.html under a strict CSP.

import * as store from './store.js';
import { Api, APP_VERSION, sync, SyncStop } from './sync.js';
import { getLang, label, serverText, setLang, t } from './i18n.js';
import { evaluate, firstErrorSection, gpsControl, h, progress, refresh, renderSection } from './form.js';
import { contentHash, rfc3339, uuidv7 } from './hash.js';

const api = new Api();
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const netDot = document.getElementById('net');
let view = 'home';
let syncing = false;

function say(text, kind = 'info') {
  banner.textContent = text;
  banner.className = `banner ${kind}`;
  banner.hidden = !text;
}

function showNet() {
  const on = navigator.onLine;
  netDot.textContent = on ? t('online') : t('offline');
  netDot.className = `net ${on ? 'on' : 'off'}`;
}

// ---------------------------------------------------------------------------------------------
// Login

function showLogin(message) {
  view = 'login';
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', autocapitalize: 'none', required: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', class: 'btn primary', id: 'login' }, t('login'));
  const err = h('p', { class: 'error-text', role: 'alert' }, message || '');
  const form = h(
    'form',
    { class: 'card login' },
    h('h2', {}, t('login_title')),
    h('p', { class: 'hint' }, t('login_hint')),
    h('label', { for: 'username' }, t('username')),
    user,
    h('label', { for: 'password' }, t('password')),
    pass,
    btn,
    err,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    btn.textContent = t('logging_in');
    err.textContent = '';
    try {
      await api.login(user.value.trim(), pass.value);
      pass.value = '';
      say('');
      await runSync();
      showHome();
    } catch (e) {
      err.textContent = e.problem ? serverText(e.problem.detail, e.problem.detail_en) : t('login_needs_network');
    } finally {
      btn.disabled = false;
      btn.textContent = t('login');
    }
  });
  main.replaceChildren(form);
}

// ---------------------------------------------------------------------------------------------
// Home: status, sync, scope, forms

const STATE_KEY = {
  draft: 'st_draft',
  ready: 'st_ready',
  in_flight: 'st_in_flight',
  synced: 'st_synced',
  failed: 'st_failed',
  returned: 'st_returned',
};

async function showHome() {
  view = 'home';
  const session = await store.getMeta('session');
  if (!session) return showLogin();
  const hs = await store.getMeta('handshake');
  const last = await store.getMeta('last_sync');
  const forms = await store.listForms();
  const assignments = await store.listAssignments();
  const ready = forms.filter((f) => f.state === 'ready' || f.state === 'in_flight').length;
  const syncBtn = h('button', { type: 'button', class: 'btn primary', id: 'sync', disabled: syncing }, syncing ? t('syncing') : t('sync'));
  syncBtn.addEventListener('click', async () => {
    await runSync();
    if (view === 'home') showHome();
  });
  const newBtn = h('button', { type: 'button', class: 'btn primary', id: 'new-form' }, t('new_form'));
  newBtn.addEventListener('click', () => newForm());
  const logout = h('button', { type: 'button', class: 'btn link', id: 'logout' }, t('logout'));
  logout.addEventListener('click', async () => {
    await store.deleteMeta('session');
    showLogin();
  });
  const status = h(
    'div',
    { class: 'card status' },
    h('p', {}, h('strong', {}, session.username), ' · ', last ? t('last_sync', new Date(last).toLocaleString(getLang())) : t('never_synced')),
    h('p', { id: 'ready-count' }, t('ready_count', ready)),
    h('div', { class: 'row' }, syncBtn, newBtn),
    logout,
  );
  const list = h('ul', { class: 'forms', id: 'forms' });
  // Newest first, and the forms sent back for correction before all others.
  const shown = [...forms].reverse().sort((a, b) => (b.state === 'returned') - (a.state === 'returned'));
  for (const f of shown) list.append(formItem(f, hs));
  if (forms.length === 0) list.append(h('li', { class: 'empty' }, t('no_forms')));
  const returned = forms.filter((f) => f.state === 'returned').length;
  if (returned) status.insertBefore(h('p', { id: 'returned-count', class: 'warn-text' }, t('returned_count', returned)), status.children[2]);
  main.replaceChildren(status, assignmentsCard(assignments, forms, hs), h('h2', {}, t('forms')), list, scopeCard(hs));
}

function unitName(hs, roundCode, code) {
  const r = hs && hs.rounds.find((x) => x.code === roundCode);
  const u = r && r.units.find((x) => x.code === code);
  return u ? u.name : code || '';
}

function formItem(f, hs) {
  const state = f.superseded_by ? 'superseded' : f.state;
  const badge = h('span', { class: `badge st-${state}`, 'data-state': state }, t(f.superseded_by ? 'st_superseded' : STATE_KEY[f.state]));
  const title = h('p', { class: 'item-title' }, f.household_ref || '—', ' · ', unitName(hs, f.round, f.units && f.units.commune), f.units && f.units.village ? ` · ${f.units.village}` : '');
  const li = h('li', { class: 'form-item', 'data-id': f.id, 'data-state': state }, h('div', { class: 'item-head' }, title, badge));
  li.append(h('p', { class: 'item-meta' }, f.round || '', ' · ', new Date(f.updated_at || f.created_at).toLocaleString(getLang())));
  if (f.state === 'draft' || (f.state === 'returned' && !f.orphan)) {
    li.setAttribute('role', 'button');
    li.setAttribute('tabindex', '0');
    li.addEventListener('click', () => openForm(f.id));
    li.addEventListener('keydown', (ev) => ev.key === 'Enter' && openForm(f.id));
    li.classList.add('tappable');
  }
  if (f.state === 'returned') {
    const r = f.returned || {};
    li.append(
      h(
        'div',
        { class: 'returned-note' },
        h('p', { class: 'outcome' }, r.by ? t('returned_by', r.by) : t('returned_plain'), ' · ', t('revision', r.revision || f.revision || 1)),
        h('p', { class: 'comment' }, `“${r.comment || ''}”`),
      ),
    );
    if (f.orphan) li.append(h('p', { class: 'hint' }, t('returned_orphan')));
    else {
      const fix = h('button', { type: 'button', class: 'btn secondary fix-returned' }, t('fix_returned'));
      fix.addEventListener('click', (ev) => {
        ev.stopPropagation();
        openForm(f.id);
      });
      li.append(fix);
    }
  }
  if (f.corrected_from && f.state !== 'returned') li.append(h('p', { class: 'item-meta corrected' }, t('corrected', f.revision)));
  if (f.state === 'failed') {
    const reasons = h('ul', { class: 'reasons' });
    reasons.append(h('li', { class: 'outcome' }, `${t('reason')}: ${t(`oc_${f.outcome}`) || f.outcome}`));
    for (const p of f.problems || []) reasons.append(h('li', {}, `${p.field}: ${serverText(p.message, p.message_en)}`));
    li.append(reasons);
    if (!f.superseded_by && f.answers && f.corrected_from) {
      // A correction the server refused: edit it again as the same revision of the same form.
      const fix = h('button', { type: 'button', class: 'btn secondary fix' }, t('fix_returned'));
      fix.addEventListener('click', async () => {
        await store.transition([f.id], ['failed'], 'returned', (x) => ({ returned: x.corrected_from, corrected_from: null, revision: x.corrected_from.revision }));
        openForm(f.id);
      });
      li.append(fix);
    } else if (!f.superseded_by && f.answers) {
      const fix = h('button', { type: 'button', class: 'btn secondary fix' }, t('fix_as_new'));
      fix.addEventListener('click', () => fixAsNew(f));
      li.append(fix);
    }
  }
  return li;
}

/** Whether a form on this device counts against an assignment: same round, commune and village,
 * one of its households when it lists them, and held or on its way (not a draft, not refused). */
export function countsAgainst(a, f) {
  if (f.orphan || f.superseded_by || f.state === 'draft' || f.state === 'failed') return false;
  const u = f.units || {};
  if (f.round !== a.round || u.commune !== a.units.commune || u.village !== a.units.village) return false;
  return !(a.household_refs && a.household_refs.length) || a.household_refs.includes(f.household_ref);
}

/** Assigned and outstanding per assignment: households counted once, as the server does. */
export function assignmentProgress(a, forms) {
  const done = new Set(forms.filter((f) => countsAgainst(a, f)).map((f) => f.household_ref));
  return { done: done.size, outstanding: Math.max(0, a.quantity - done.size), doneRefs: done };
}

function assignmentsCard(assignments, forms, hs) {
  const card = h('div', { class: 'card assignments', id: 'assignments' }, h('h2', {}, t('assignments')));
  if (assignments.length === 0) {
    card.append(h('p', { class: 'hint' }, t('no_assignments')));
    return card;
  }
  const sorted = [...assignments].sort((a, b) => a.round.localeCompare(b.round) || a.units.commune.localeCompare(b.units.commune) || a.units.village.localeCompare(b.units.village));
  let totalQ = 0;
  let totalOut = 0;
  const ul = h('ul', { class: 'assignment-list' });
  for (const a of sorted) {
    const p = assignmentProgress(a, forms);
    totalQ += a.quantity;
    totalOut += p.outstanding;
    const li = h(
      'li',
      { class: 'assignment', 'data-id': String(a.id), 'data-outstanding': String(p.outstanding), 'data-quantity': String(a.quantity) },
      h('p', { class: 'item-title' }, a.units.village, ' · ', unitName(hs, a.round, a.units.commune)),
      h('p', { class: 'item-meta' }, t('assignment_counts', a.quantity, p.done, p.outstanding)),
    );
    if (a.household_refs && a.household_refs.length) {
      const left = a.household_refs.filter((r) => !p.doneRefs.has(r));
      if (left.length) li.append(h('p', { class: 'item-meta households' }, `${t('households_left')}: ${left.join(', ')}`));
    }
    if (p.outstanding > 0) {
      const start = h('button', { type: 'button', class: 'btn secondary start-assignment' }, t('start_here'));
      start.addEventListener('click', () => newFormFor(a, p.doneRefs));
      li.append(start);
    }
    ul.append(li);
  }
  card.append(h('p', { id: 'assignment-totals' }, t('assignment_totals', totalQ, totalOut)), ul);
  return card;
}

function scopeCard(hs) {
  const card = h('div', { class: 'card scope' }, h('h2', {}, t('scope')));
  // The enumerator's scope: the communes of each open round (assignments are listed above).
  const rounds = hs ? hs.rounds.filter((r) => r.status === 'open') : [];
  if (rounds.length === 0) card.append(h('p', {}, t('no_scope')));
  for (const r of rounds) {
    const communes = r.units.filter((u) => u.level === 'commune');
    card.append(h('p', {}, h('strong', {}, `${r.code}`), ` · ${communes.length} ${t('commune').toLowerCase()}`));
    const ul = h('ul', { class: 'units' });
    for (const u of communes.slice(0, 50)) ul.append(h('li', {}, `${u.name} (${u.code})`));
    card.append(ul);
  }
  return card;
}

// ---------------------------------------------------------------------------------------------
// Forms

async function newForm(copyOf, { fresh = false } = {}) {
  const hs = await store.getMeta('handshake');
  const round = hs && hs.rounds.find((r) => r.status === 'open');
  const now = new Date();
  const f = {
    id: uuidv7(),
    order: await store.nextOrder(),
    state: 'draft',
    round: copyOf ? copyOf.round : round ? round.code : '',
    questionnaire_code: copyOf ? copyOf.questionnaire_code : round ? round.questionnaire_code : '',
    questionnaire_version: copyOf ? copyOf.questionnaire_version : round ? round.questionnaire_version : 0,
    revision: 1,
    units: copyOf ? { ...copyOf.units } : { province: '', district: '', commune: '', village: '' },
    household_ref: copyOf ? copyOf.household_ref : '',
    gps: copyOf ? copyOf.gps : null,
    answers: copyOf ? structuredClone(copyOf.answers) : {},
    started_at: rfc3339(now),
    created_at: now.toISOString(),
    replaces: copyOf && !fresh ? copyOf.id : null,
  };
  await store.putForm(f);
  return openForm(f.id);
}

/** A new form in an assignment's village, on its round, with the next household not yet done. */
async function newFormFor(a, doneRefs) {
  const hs = await store.getMeta('handshake');
  const round = hs && hs.rounds.find((r) => r.code === a.round);
  const next = (a.household_refs || []).find((r) => !doneRefs.has(r)) || '';
  const template = {
    round: a.round,
    questionnaire_code: round ? round.questionnaire_code : '',
    questionnaire_version: round ? round.questionnaire_version : 0,
    units: { province: a.units.province, district: a.units.district || '', commune: a.units.commune, village: a.units.village },
    household_ref: next,
    gps: null,
    answers: {},
  };
  return newForm(template, { fresh: true });
}

async function fixAsNew(old) {
  const f = await newForm(old);
  await store.transition([old.id], ['failed'], 'failed', () => ({ superseded_by: true }));
  return f;
}

async function openForm(id) {
  const f = await store.getForm(id);
  if (!f) return showHome();
  view = 'form';
  const hs = await store.getMeta('handshake');
  const round = hs && hs.rounds.find((r) => r.code === f.round);
  const qrec = await store.getQuestionnaire(f.questionnaire_code, f.questionnaire_version);
  if (!qrec) {
    say(t('no_questionnaire'), 'warn');
    return showHome();
  }
  const q = qrec.definition;
  const state = { answers: f.answers || {}, showRequired: new Set(), units: f.units };
  let section = -1; // -1: the form's own fields (round, area, household)
  let timer = null;
  const savedNote = h('span', { class: 'saved', id: 'saved', 'aria-live': 'polite' });
  const save = async () => {
    clearTimeout(timer);
    timer = null;
    f.answers = state.answers;
    await store.putForm(f);
    savedNote.textContent = t('saved');
  };
  const soon = () => {
    savedNote.textContent = '';
    clearTimeout(timer);
    timer = setTimeout(save, 250);
  };
  // Closing the tab or switching app: write a pending change now.
  const flush = () => timer && save();
  window.addEventListener('pagehide', flush, { once: true });
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && flush());

  const body = h('div', { class: 'form-body' });
  const bar = h('div', { class: 'progress', role: 'progressbar' }, h('div', { class: 'fill' }));
  const barText = h('p', { class: 'progress-text', id: 'progress' });
  const nav = h('div', { class: 'nav' });
  const back = h('button', { type: 'button', class: 'btn link', id: 'back' }, t('back'));
  back.addEventListener('click', async () => {
    await save();
    showHome();
  });
  const update = () => {
    const verdict = refresh(body, q, state);
    const [done, total] = progress(q, verdict);
    bar.firstChild.style.width = `${total ? Math.round((100 * done) / total) : 0}%`;
    barText.textContent = `${section >= 0 ? t('section', section + 1, q.sections.length) : ''} · ${t('progress', done, total)}`;
    return verdict;
  };
  const onChange = () => {
    soon();
    update();
  };

  const header = () => headerSection(f, hs, round, q, state, onChange);
  const go = (i) => {
    section = i;
    body.replaceChildren(i < 0 ? header() : renderSection(q, i, state, onChange));
    nav.replaceChildren(...navButtons());
    update();
    window.scrollTo(0, 0);
  };
  const navButtons = () => {
    const out = [];
    if (section >= 0) {
      const prev = h('button', { type: 'button', class: 'btn secondary', id: 'prev' }, t('prev'));
      prev.addEventListener('click', () => go(section - 1));
      out.push(prev);
    }
    const draft = h('button', { type: 'button', class: 'btn secondary', id: 'save-draft' }, t('save_draft'));
    draft.addEventListener('click', save);
    out.push(draft);
    if (section < q.sections.length - 1) {
      const next = h('button', { type: 'button', class: 'btn primary', id: 'next' }, t('next'));
      next.addEventListener('click', () => {
        if (section >= 0) state.showRequired.add(section);
        go(section + 1);
      });
      out.push(next);
    } else {
      const finish = h('button', { type: 'button', class: 'btn primary', id: 'finish' }, t('finish'));
      finish.addEventListener('click', () => finishForm(f, q, state, go, save));
      out.push(finish);
    }
    if (f.state === 'draft') {
      const del = h('button', { type: 'button', class: 'btn link danger', id: 'delete' }, t('delete_draft'));
      del.addEventListener('click', async () => {
        if (!window.confirm(t('confirm_delete'))) return;
        await store.deleteForm(f.id);
        showHome();
      });
      out.push(del);
    }
    return out;
  };
  main.replaceChildren(h('div', { class: 'form-top' }, back, savedNote), bar, barText, body, nav);
  say('');
  go(-1);
}

/** The form's own fields: round, area (from the enumerator's scope), household, household GPS. */
function headerSection(f, hs, round, q, state, onChange) {
  const wrap = h('div', { class: 'section header-section' });
  const units = round ? round.units : [];
  const select = (id, level, parent, key) => {
    const sel = h('select', { id, name: id });
    sel.append(h('option', { value: '' }, t('choose')));
    for (const u of units.filter((x) => x.level === level && (!parent || x.parent === parent)))
      sel.append(h('option', { value: u.code, selected: f.units[key] === u.code }, `${u.name} (${u.code})`));
    sel.addEventListener('change', () => {
      f.units[key] = sel.value;
      prefill(f, q, state);
      onChange();
      // Lower levels depend on this one.
      wrap.replaceWith(headerSection(f, hs, round, q, state, onChange));
    });
    return h('label', { class: 'field' }, h('span', {}, t(key)), sel);
  };
  const text = (id, key, get, put) => {
    const input = h('input', { id, name: id, type: 'text', autocomplete: 'off' });
    input.value = get() || '';
    input.addEventListener('input', () => {
      put(input.value.trim());
      prefill(f, q, state);
      onChange();
    });
    return h('label', { class: 'field' }, h('span', {}, t(key)), input);
  };
  wrap.append(h('h2', { class: 'section-title' }, label(q.title)));
  wrap.append(h('p', { class: 'field' }, `${t('round')}: `, h('strong', {}, f.round || '—')));
  const hasDistricts = units.some((u) => u.level === 'district');
  wrap.append(select('province', 'province', null, 'province'));
  if (hasDistricts) wrap.append(select('district', 'district', f.units.province, 'district'));
  wrap.append(select('commune', 'commune', hasDistricts ? f.units.district : f.units.province, 'commune'));
  wrap.append(text('village', 'village', () => f.units.village, (v) => (f.units.village = v)));
  wrap.append(text('household', 'household', () => f.household_ref, (v) => (f.household_ref = v)));
  wrap.append(
    h(
      'div',
      { class: 'field' },
      gpsControl(f.gps, (v) => {
        f.gps = v || null;
        onChange();
      }, { fieldAccuracy: 'accuracy_m' }),
    ),
  );
  return wrap;
}

/** Copies the chosen area into the questionnaire's own area questions while they are empty. */
function prefill(f, q, state) {
  const codes = new Set(q.sections.flatMap((s) => s.questions.map((x) => x.code)));
  const pairs = [
    ['province_code', f.units.province],
    ['district_code', f.units.district],
    ['commune_code', f.units.commune],
    ['village_code', f.units.village],
  ];
  for (const [code, v] of pairs) {
    if (!codes.has(code) || !v) continue;
    if (state.answers[code] === undefined || state.prefilled?.[code] === state.answers[code]) {
      state.answers[code] = v;
      state.prefilled = { ...(state.prefilled || {}), [code]: v };
    }
  }
}

async function finishForm(f, q, state, go, save) {
  // Writes the answers and cancels the pending debounced save: that save would otherwise write
  // this record back later, over the outbox state the sync gives it.
  await save();
  for (let i = 0; i < q.sections.length; i++) state.showRequired.add(i);
  const headerOk = f.round && f.units.province && f.units.commune && f.units.village && f.household_ref;
  const verdict = evaluate(q, state.answers, f.units);
  if (!headerOk) {
    say(t('header_missing'), 'error');
    go(-1);
    return;
  }
  if (!verdict.valid) {
    say(t('form_errors', verdict.errors.length), 'error');
    go(Math.max(0, firstErrorSection(q, verdict)));
    return;
  }
  const units = { province: f.units.province, commune: f.units.commune, village: f.units.village };
  if (f.units.district) units.district = f.units.district;
  // A form a reviewer sent back goes again as the next revision of the same form (`updated`).
  const correcting = f.state === 'returned' && f.returned;
  if (correcting) f.revision = (f.returned.revision || f.revision || 1) + 1;
  const submission = {
    id: f.id,
    round: f.round,
    questionnaire_code: f.questionnaire_code,
    questionnaire_version: f.questionnaire_version,
    revision: f.revision || 1,
    units,
    household_ref: f.household_ref,
    started_at: f.started_at,
    finished_at: rfc3339(new Date()),
    answers: verdict.sent,
  };
  if (f.gps) submission.gps = { lat: f.gps.lat, lon: f.gps.lon, ...(f.gps.accuracy_m != null ? { accuracy_m: f.gps.accuracy_m } : {}) };
  f.answers = state.answers;
  f.submission = submission;
  f.content_hash = await contentHash(submission);
  if (correcting) {
    f.corrected_from = f.returned;
    f.returned = null;
  }
  f.state = 'ready';
  await store.putForm(f);
  say('');
  await showHome();
  if (navigator.onLine) runSync().then(() => view === 'home' && showHome());
}

// ---------------------------------------------------------------------------------------------
// Sync

async function runSync() {
  if (syncing) return;
  const session = await store.getMeta('session');
  if (!session) return;
  syncing = true;
  const btn = document.getElementById('sync');
  if (btn) {
    btn.disabled = true;
    btn.textContent = t('syncing');
  }
  const once = async () => {
    try {
      const r = await sync(api);
      say(t('sync_done', r.accepted, r.failed), r.failed ? 'warn' : 'ok');
    } catch (e) {
      if (!(e instanceof SyncStop)) throw e;
      if (e.reason === 'offline') say(t('sync_offline'), 'warn');
      else if (e.reason === 'revoked' || (e.cause && ['token_revoked', 'device_revoked', 'account_inactive'].includes(e.cause.code)))
        say(`${t('sync_revoked')} (${problemText(e.cause)})`, 'error');
      else if (e.reason === 'unauthorized') {
        // The refresh token is no longer valid: log in again; the forms stay in the outbox.
        await store.deleteMeta('session');
        showLogin(`${t('sync_unauthorized')} (${problemText(e.cause)})`);
      }
      else say(t('sync_rejected', problemText(e.cause)), 'error');
    }
  };
  try {
    // One sync at a time across this installation's tabs.
    if (navigator.locks) await navigator.locks.request('sipas-sync', once);
    else await once();
  } finally {
    syncing = false;
  }
}

function problemText(e) {
  if (!e) return '';
  if (e.problem) return serverText(e.problem.detail, e.problem.detail_en) || e.problem.code;
  return e.message;
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  setLang(getLang());
  document.title = t('app_title');
  document.getElementById('title').textContent = t('app_title');
  const langBtn = document.getElementById('lang');
  langBtn.textContent = t('language');
  langBtn.addEventListener('click', () => {
    setLang(getLang() === 'vi' ? 'en' : 'vi');
    langBtn.textContent = t('language');
    langBtn.setAttribute('aria-label', getLang() === 'vi' ? 'English' : 'Tiếng Việt');
    document.getElementById('title').textContent = t('app_title');
    showNet();
    if (view !== 'form') showHome();
  });
  showNet();
  window.addEventListener('offline', showNet);
  window.addEventListener('online', async () => {
    showNet();
    await runSync();
    if (view === 'home') showHome();
  });
  await store.deviceId();
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('./sw.js', { scope: './' }).catch(() => {});
  document.getElementById('version').textContent = `v${APP_VERSION}`;
  const session = await store.getMeta('session');
  if (!session) return showLogin();
  await showHome();
  const ready = await store.formsIn('ready');
  const inFlight = await store.formsIn('in_flight');
  if (navigator.onLine && (ready.length || inFlight.length)) {
    await runSync();
    if (view === 'home') showHome();
  }
}

start();
