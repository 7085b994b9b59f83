// The dashboard: log in, pick a round, a round to compare with and a unit; read the indices with
// their intervals and small-cell notices, the groups as a chart, the change from the other round
// with significant changes marked, the provinces ranked, the lower-level units, the fieldwork
// progress, and download the report and the form data. Every number comes from the API as it
// answers (nothing is recomputed here), under the caller's scope. No inline script: this module
// is loaded by index.html under a strict CSP. The selection is kept in the URL's fragment, never
// a token.

import { Api, ApiError, SessionOver } from './api.js';
import { arrow, bars, legend } from './charts.js';
import { count, getLang, label, num, serverText, setLang, t } from './text.js';

const api = new Api();
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const who = document.getElementById('who');
const logoutBtn = document.getElementById('logout');

/** What the page knows once logged in. */
const ctx = { me: null, rounds: [], definitions: new Map(), provinces: new Map() };
/** What is selected: round, round to compare with (or ''), unit (`VN` for the nation). */
const sel = { round: '', with: '', unit: 'VN' };
let generation = 0;

/** An element with attributes and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function say(text, kind = 'info') {
  banner.textContent = text;
  banner.className = `banner ${kind}`;
  banner.hidden = !text;
}

function problemText(e) {
  if (e instanceof ApiError && e.problem) return serverText(e.problem.detail, e.problem.detail_en) || e.problem.code;
  return e && e.message ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// Login

function showLogin(message) {
  who.textContent = '';
  logoutBtn.hidden = true;
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', autocapitalize: 'none', required: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', class: 'btn primary', id: 'login' }, t('login'));
  const err = h('p', { class: 'error-text', role: 'alert', id: 'login-error' }, message || '');
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
    err.textContent = '';
    try {
      await api.login(user.value.trim(), pass.value);
      pass.value = '';
      await startSession();
    } catch (e) {
      err.textContent = problemText(e);
    } finally {
      btn.disabled = false;
    }
  });
  main.replaceChildren(form);
  user.focus();
}

async function startSession() {
  ctx.me = await api.json('/api/v1/auth/me');
  who.textContent = ctx.me.username;
  logoutBtn.hidden = false;
  const rounds = (await api.json('/api/v1/rounds')).rounds;
  // Real rounds first, newest first; practice rounds after them.
  ctx.rounds = rounds.sort((a, b) => Number(a.practice) - Number(b.practice) || b.year - a.year || a.code.localeCompare(b.code));
  readFragment();
  if (!ctx.rounds.some((r) => r.code === sel.round)) sel.round = ctx.rounds.length ? ctx.rounds[0].code : '';
  if (sel.with === '' && !location.hash.includes('with=')) sel.with = previousOf(sel.round);
  if (!location.hash.includes('unit=')) sel.unit = defaultUnit();
  await render();
}

// ---------------------------------------------------------------------------------------------
// Selection

function round(code = sel.round) {
  return ctx.rounds.find((r) => r.code === code);
}

/** The latest earlier round on the same questionnaire, the natural one to compare with. */
function previousOf(code) {
  const r = round(code);
  if (!r) return '';
  const older = ctx.rounds.filter((x) => !x.practice && x.year < r.year && x.questionnaire.code === r.questionnaire.code);
  older.sort((a, b) => b.year - a.year);
  return older.length ? older[0].code : '';
}

/** The caller's own unit (the API maps it into a round of another geography, or says why not), else the nation. */
function defaultUnit() {
  const s = ctx.me && ctx.me.scope;
  return s ? s.unit_code : 'VN';
}

function readFragment() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.get('round')) sel.round = p.get('round');
  if (p.has('with')) sel.with = p.get('with');
  if (p.get('unit')) sel.unit = p.get('unit');
}

function writeFragment() {
  const p = new URLSearchParams({ round: sel.round, with: sel.with, unit: sel.unit });
  history.replaceState(null, '', `#${p}`);
}

async function definitionOf(r) {
  const key = `${r.questionnaire.code}/${r.questionnaire.version}`;
  if (!ctx.definitions.has(key)) {
    const v = await api.json(`/api/v1/questionnaires/${encodeURIComponent(r.questionnaire.code)}/versions/${r.questionnaire.version}`);
    ctx.definitions.set(key, labelsOf(v.definition));
  }
  return ctx.definitions.get(key);
}

/** Labels by figure key (`overall/sipas`, `component/x`, `group/x`, `item/g.i`) and the index's order. */
function labelsOf(def) {
  const names = new Map([['overall/sipas', { vi: 'Chỉ số SIPAS', en: 'SIPAS index' }]]);
  const index = def.index || { components: [], groups: [] };
  for (const c of index.components || []) names.set(`component/${c.code}`, c.label);
  for (const g of index.groups || []) names.set(`group/${g.code}`, g.label);
  for (const s of def.sections || [])
    for (const q of s.questions || [])
      if (q.kind && q.kind.type === 'grid') for (const it of q.kind.items || []) names.set(`item/${q.code}.${it.code}`, it.label);
  return { names, index };
}

async function provincesOf(geography) {
  if (!ctx.provinces.has(geography)) {
    const list = await api.json(`/api/v1/geographies/${encodeURIComponent(geography)}/units?level=province&limit=200`);
    ctx.provinces.set(geography, list.units.map((u) => ({ code: u.code, name: u.type ? `${u.type} ${u.name}` : u.name })));
  }
  return ctx.provinces.get(geography);
}

/** The units the picker offers: the nation and the provinces (the ministry), or the nation and the caller's own unit. */
async function unitChoices(r) {
  const choices = [{ code: 'VN', name: t('nation') }];
  if (ctx.me.role === 'ministry') return choices.concat(await provincesOf(r.geography));
  const s = ctx.me.scope;
  if (s) choices.push({ code: s.unit_code, name: s.unit_name || s.unit_code });
  if (sel.unit !== 'VN' && !choices.some((c) => c.code === sel.unit)) choices.push({ code: sel.unit, name: sel.unit });
  return choices;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A read that may be refused by scope or absent on this server: `{ data }` or `{ error }`. */
async function attempt(path) {
  try {
    return { data: await api.json(path) };
  } catch (e) {
    if (e instanceof SessionOver) throw e;
    return { error: e };
  }
}

function unitQuery(unit) {
  return unit && unit !== 'VN' ? `unit=${encodeURIComponent(unit)}` : '';
}

function q(...parts) {
  const s = parts.filter(Boolean).join('&');
  return s ? `?${s}` : '';
}

/** Figures of one result's estimates by key, as `/compare` names them. */
function figures(result) {
  const out = new Map();
  const e = result && result.estimates;
  if (!e) return out;
  if (e.overall) out.set('overall/sipas', e.overall.figure);
  for (const c of e.components || []) out.set(`component/${c.code}`, c.figure);
  for (const g of e.groups || []) out.set(`group/${g.code}`, g.figure);
  for (const i of e.items || []) out.set(`item/${i.address}`, i.figure);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The page

async function render() {
  const my = ++generation;
  writeFragment();
  const r = round();
  if (!r) {
    main.replaceChildren(h('p', { class: 'card' }, t('no_data')));
    return;
  }
  main.replaceChildren(await controls(r), h('p', { class: 'loading', id: 'loading' }, t('loading')));
  const defs = await definitionOf(r);
  const unitQ = unitQuery(sel.unit);
  const lower = sel.unit === 'VN' ? null : r.sampling_levels.includes('district') && !isDistrict(sel.unit) ? 'district' : 'commune';
  const province = sel.unit === 'VN' ? null : sel.unit.length === 2 ? sel.unit : null;
  const provinceQ = province ? `?province=${encodeURIComponent(province)}` : '';
  const [ind, league, sub, cmp, cmpLeague, progress, targets, plans, quality] = await Promise.all([
    attempt(`/api/v1/rounds/${r.code}/indices${q(unitQ)}`),
    attempt(`/api/v1/rounds/${r.code}/indices?level=province`),
    lower ? attempt(`/api/v1/rounds/${r.code}/indices${q(unitQ, `level=${lower}`)}`) : null,
    sel.with ? attempt(`/api/v1/rounds/${r.code}/compare${q(unitQ, `with=${encodeURIComponent(sel.with)}`)}`) : null,
    sel.with ? attempt(`/api/v1/rounds/${r.code}/compare?level=province&with=${encodeURIComponent(sel.with)}`) : null,
    attempt(`/api/v1/rounds/${r.code}/progress${q(unitQ)}`),
    attempt(`/api/v1/rounds/${r.code}/targets${provinceQ}`),
    attempt(`/api/v1/rounds/${r.code}/plans${provinceQ}`),
    attempt(`/api/v1/rounds/${r.code}/quality${q(unitQ, 'level=enumerator')}`),
  ]);
  // Each plan with its tasks (and, compared with another round, the change of their criteria).
  const planViews = plans.data
    ? await Promise.all(
        plans.data.plans.map((p) =>
          attempt(`/api/v1/rounds/${r.code}/plans/${p.id}${sel.with ? `?with=${encodeURIComponent(sel.with)}` : ''}`),
        ),
      )
    : [];
  if (my !== generation) return; // a newer selection is on its way
  const result = ind.data && ind.data.results[0];
  const changes = new Map(((cmp && cmp.data && cmp.data.results[0] && cmp.data.results[0].changes) || []).map((c) => [c.key, c]));
  const minCell = ind.data ? ind.data.min_cell : r.min_cell_size;
  const sections = [
    headline(r, ind, result, changes, league, cmpLeague, minCell),
    groupsChart(defs, result, changes),
    indicesTable(defs, ind, result, changes, minCell),
    leagueTable(league, cmpLeague),
    lower ? subunitsTable(sub, lower, minCell) : null,
    targetsCard(defs, targets, plans, planViews),
    progressCard(progress),
    qualityCard(quality),
    downloadsCard(r),
  ];
  document.getElementById('loading').remove();
  main.append(...sections.filter(Boolean));
}

function isDistrict(code) {
  // Province codes have two digits, districts three, communes five (GSO numbering).
  return code.length === 3;
}

async function controls(r) {
  const roundSel = h('select', { id: 'round', name: 'round' });
  for (const x of ctx.rounds) roundSel.append(h('option', { value: x.code, selected: x.code === sel.round }, `${label({ vi: x.title_vi, en: x.title_en }, x.code)} (${x.code})`));
  roundSel.addEventListener('change', () => guarded(async () => {
    sel.round = roundSel.value;
    sel.with = previousOf(sel.round);
    const next = round();
    if (next.geography !== r.geography) {
      // The ministry keeps its province where the other geography has the same code.
      const keep = ctx.me.role === 'ministry' && (await provincesOf(next.geography)).some((u) => u.code === sel.unit);
      if (!keep) sel.unit = ctx.me.role === 'ministry' ? 'VN' : defaultUnit();
    }
    await render();
  }));
  const withSel = h('select', { id: 'with', name: 'with' }, h('option', { value: '' }, t('none')));
  for (const x of ctx.rounds) if (x.code !== sel.round) withSel.append(h('option', { value: x.code, selected: x.code === sel.with }, x.code));
  withSel.addEventListener('change', () => {
    sel.with = withSel.value;
    guarded(render);
  });
  const unitSel = h('select', { id: 'unit', name: 'unit' });
  for (const u of await unitChoices(r)) unitSel.append(h('option', { value: u.code, selected: u.code === sel.unit }, u.code === 'VN' ? u.name : `${u.name} (${u.code})`));
  unitSel.addEventListener('change', () => {
    sel.unit = unitSel.value;
    guarded(render);
  });
  return h(
    'div',
    { class: 'card controls' },
    h('label', { class: 'field' }, h('span', {}, t('round')), roundSel),
    h('label', { class: 'field' }, h('span', {}, t('compare_with')), withSel),
    h('label', { class: 'field' }, h('span', {}, t('unit')), unitSel),
  );
}

function card(id, title, ...body) {
  return h('section', { class: 'card', id }, h('h2', {}, title), ...body);
}

function refusal(res) {
  const e = res && res.error;
  if (!e) return null;
  if (e instanceof ApiError && e.status === 403) return h('p', { class: 'notice' }, t('forbidden'));
  if (e instanceof ApiError && e.status === 404 && e.code === 'route_not_found') return h('p', { class: 'notice' }, t('not_available'));
  return h('p', { class: 'error-text' }, t('error', problemText(e)));
}

function withheldNote(minCell) {
  return h('p', { class: 'notice withheld-note' }, t('withheld', minCell));
}

function ciText(f) {
  if (!f || f.ci_low === null || f.ci_low === undefined) return '—';
  return `${num(f.ci_low)} – ${num(f.ci_high)}`;
}

function changeCell(c) {
  if (!c || c.diff === null || c.diff === undefined) return h('td', { class: 'num' }, '—');
  return h(
    'td',
    { class: `num change ${c.significant ? 'sig' : ''} ${c.diff > 0 ? 'up' : c.diff < 0 ? 'down' : ''}`, title: `${t('ci')}: ${num(c.ci_low, { signed: true })} – ${num(c.ci_high, { signed: true })}; ${c.significant ? t('significant') : t('not_significant')}` },
    `${arrow(c.diff, c.significant)} ${num(c.diff, { signed: true })}`,
  );
}

function headline(r, ind, result, changes, league, cmpLeague, minCell) {
  const refused = refusal(ind);
  if (refused) return card('headline', t('sipas'), refused);
  if (!result) return card('headline', t('sipas'), h('p', {}, t('no_data')));
  const f = figures(result).get('overall/sipas');
  const c = changes.get('overall/sipas');
  const rows = [];
  rows.push(h('p', { class: 'unit-name' }, result.unit.name || result.unit.code, ' · ', r.code));
  if (result.withheld || !f || f.value === null) rows.push(withheldNote(minCell));
  else {
    rows.push(
      h(
        'p',
        { class: 'big' },
        h('span', { id: 'sipas-value', 'data-value': String(f.value) }, num(f.value)),
        c ? h('span', { class: `delta ${c.significant ? 'sig' : ''}`, id: 'sipas-change' }, ` ${arrow(c.diff, c.significant)} ${num(c.diff, { signed: true })}`) : null,
      ),
    );
    rows.push(h('p', {}, `${t('ci')}: ${ciText(f)}`));
  }
  rows.push(h('p', {}, `${t('n_forms')}: ${count(result.n_forms)}`));
  const leagueRow = league && league.data && league.data.results.find((x) => x.unit.code === result.unit.code);
  const ranked = league && league.data ? league.data.results.filter((x) => x.rank !== null).length : 0;
  if (leagueRow && leagueRow.rank) {
    const rc = cmpLeague && cmpLeague.data && cmpLeague.data.results.find((x) => x.unit.code === result.unit.code);
    const change = rc && rc.rank && rc.rank.change;
    const changeText = change === null || change === undefined ? '' : change > 0 ? t('rank_change_up', change) : change < 0 ? t('rank_change_down', -change) : t('rank_same');
    rows.push(h('p', { id: 'rank' }, t('rank_of', leagueRow.rank, ranked), changeText ? ` · ${changeText}` : ''));
  }
  if (ind.data && ind.data.design) rows.push(h('p', { class: 'hint' }, t('design', designText(ind.data.design))));
  return card('headline', t('sipas'), ...rows);
}

function designText(d) {
  const how = d.source === 'recorded' ? t('design_recorded') : t('design_assumed');
  return `${how} (PSU: ${d.psu}, strata: ${d.strata}, ${d.variance})`;
}

function indicesTable(defs, ind, result, changes, minCell) {
  if (!result) return null;
  const figs = figures(result);
  const compare = changes.size > 0;
  const head = h(
    'tr',
    {},
    h('th', { scope: 'col' }, t('indicator')),
    h('th', { scope: 'col', class: 'num' }, t('value')),
    h('th', { scope: 'col', class: 'num' }, t('ci')),
    compare ? h('th', { scope: 'col', class: 'num' }, t('previous')) : null,
    compare ? h('th', { scope: 'col', class: 'num' }, t('change')) : null,
  );
  const row = (key, cls) => {
    const f = figs.get(key);
    const c = changes.get(key);
    return h(
      'tr',
      { class: cls, 'data-key': key },
      h('th', { scope: 'row' }, label(defs.names.get(key), key)),
      h('td', { class: 'num', 'data-value': f && f.value !== null ? String(f.value) : '' }, num(f && f.value)),
      h('td', { class: 'num' }, ciText(f)),
      compare ? h('td', { class: 'num' }, num(c && c.previous)) : null,
      compare ? changeCell(c) : null,
    );
  };
  const main = h('tbody', {});
  main.append(row('overall/sipas', 'overall'));
  for (const comp of defs.index.components || []) {
    main.append(row(`component/${comp.code}`, 'component'));
    for (const g of comp.groups) main.append(row(`group/${g}`, 'group'));
  }
  const items = h('tbody', {});
  for (const g of defs.index.groups || []) for (const it of g.items) items.append(row(`item/${it}`, 'item'));
  const body = [];
  if (result.withheld) body.push(withheldNote(minCell));
  body.push(h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'indices-table' }, h('thead', {}, head), main)));
  body.push(h('details', {}, h('summary', {}, t('items')), h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'items-table' }, h('thead', {}, head.cloneNode(true)), items))));
  if (compare) body.push(h('p', { class: 'hint' }, t('sig_legend')));
  return card('indices', t('indices'), ...body);
}

function groupsChart(defs, result, changes) {
  if (!result || result.withheld) return null;
  const figs = figures(result);
  const rows = (defs.index.groups || []).map((g) => {
    const f = figs.get(`group/${g.code}`) || {};
    const c = changes.get(`group/${g.code}`);
    return { key: g.code, label: `${g.code.toUpperCase()} ${label(g.label)}`, value: f.value, low: f.ci_low, high: f.ci_high, previous: c ? c.previous : null };
  });
  const chart = bars(rows, { title: t('groups_chart'), format: (x) => num(x) });
  chart.id = 'groups-chart';
  return card(
    'groups',
    t('groups_chart'),
    h('div', { class: 'chart-box' }, chart),
    legend({ bar: t('value'), ci: t('ci'), previous: changes.size ? t('previous') : null }),
  );
}

function leagueTable(league, cmpLeague) {
  const refused = refusal(league);
  if (refused) return card('league', t('league'), refused);
  const results = league.data.results.slice().sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || a.unit.code.localeCompare(b.unit.code));
  const rankChange = new Map(((cmpLeague && cmpLeague.data && cmpLeague.data.results) || []).map((x) => [x.unit.code, x.rank]));
  const rows = results.map((x) => {
    const f = figures(x).get('overall/sipas') || {};
    return { key: x.unit.code, label: x.unit.name || x.unit.code, value: x.withheld ? null : f.value, low: f.ci_low, high: f.ci_high, highlight: x.unit.code === sel.unit };
  });
  const chart = bars(rows, { title: t('league'), format: (v) => num(v) });
  chart.id = 'league-chart';
  const tbody = h('tbody', {});
  for (const x of results) {
    const f = figures(x).get('overall/sipas') || {};
    const rc = rankChange.get(x.unit.code);
    tbody.append(
      h(
        'tr',
        { class: x.unit.code === sel.unit ? 'highlight' : '', 'data-unit': x.unit.code },
        h('td', { class: 'num' }, x.rank ?? '—'),
        h('th', { scope: 'row' }, x.unit.name || x.unit.code),
        h('td', { class: 'num', 'data-value': x.withheld || f.value === null ? '' : String(f.value) }, x.withheld ? '—' : num(f.value)),
        h('td', { class: 'num' }, x.withheld ? '—' : ciText(f)),
        h('td', { class: 'num' }, count(x.n_forms)),
        cmpLeague ? h('td', { class: 'num' }, rc && rc.change !== null && rc.change !== undefined ? `${rc.change > 0 ? '▲' : rc.change < 0 ? '▼' : '='} ${Math.abs(rc.change)}` : '—') : null,
      ),
    );
  }
  const head = h(
    'tr',
    {},
    h('th', { scope: 'col', class: 'num' }, t('rank')),
    h('th', { scope: 'col' }, t('unit')),
    h('th', { scope: 'col', class: 'num' }, 'SIPAS'),
    h('th', { scope: 'col', class: 'num' }, t('ci')),
    h('th', { scope: 'col', class: 'num' }, t('n_forms')),
    cmpLeague ? h('th', { scope: 'col', class: 'num' }, t('change')) : null,
  );
  return card('league', t('league'), h('div', { class: 'chart-box' }, chart), h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'league-table' }, h('thead', {}, head), tbody)));
}

function subunitsTable(sub, level, minCell) {
  const refused = refusal(sub);
  if (refused) return card('subunits', t('subunits'), refused);
  const tbody = h('tbody', {});
  let withheld = 0;
  for (const x of sub.data.results) {
    const f = figures(x).get('overall/sipas') || {};
    if (x.withheld) withheld++;
    tbody.append(
      h(
        'tr',
        { 'data-unit': x.unit.code },
        h('th', { scope: 'row' }, x.unit.name || x.unit.code),
        h('td', { class: 'num' }, count(x.n_forms)),
        h('td', { class: 'num', 'data-value': x.withheld || f.value === null ? '' : String(f.value) }, x.withheld ? '—' : num(f.value)),
        h('td', { class: 'num' }, x.withheld ? '—' : ciText(f)),
        h('td', { class: 'num' }, x.rank ?? '—'),
      ),
    );
  }
  if (sub.data.results.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 5 }, t('no_data'))));
  const head = h(
    'tr',
    {},
    h('th', { scope: 'col' }, level),
    h('th', { scope: 'col', class: 'num' }, t('n_forms')),
    h('th', { scope: 'col', class: 'num' }, 'SIPAS'),
    h('th', { scope: 'col', class: 'num' }, t('ci')),
    h('th', { scope: 'col', class: 'num' }, t('rank')),
  );
  return card('subunits', t('subunits'), withheld ? withheldNote(minCell) : null, h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'subunits-table' }, h('thead', {}, head), tbody)));
}

const TARGET_TEXT = { met: 'target_met', not_met: 'target_not_met', within_margin: 'target_within_margin', no_data: 'target_no_data' };

/** The province's targets, each judged against this round's estimate, and its plans' tasks. */
function targetsCard(defs, targets, plans, planViews) {
  const refused = refusal(targets) || refusal(plans);
  if (refused) return card('targets', t('targets'), refused);
  const body = [];
  const list = targets.data.targets;
  if (list.length === 0 && plans.data.plans.length === 0) body.push(h('p', { class: 'hint' }, t('no_targets')));
  if (list.length) {
    const tbody = h('tbody', {});
    for (const x of list) {
      const e = x.evaluation || {};
      tbody.append(
        h(
          'tr',
          { 'data-target': String(x.id), 'data-status': e.status || '' },
          h('td', {}, x.province),
          h('th', { scope: 'row' }, label(defs.names.get(x.key), x.key)),
          h('td', { class: 'num' }, `≥ ${num(x.value)}`),
          h('td', { class: 'num' }, num(e.estimate)),
          h('td', { class: 'num' }, e.ci_low === null || e.ci_low === undefined ? '—' : `${num(e.ci_low)} – ${num(e.ci_high)}`),
          h('td', { class: `status st-${e.status}` }, t(TARGET_TEXT[e.status] || 'target_no_data')),
        ),
      );
    }
    const head = h(
      'tr',
      {},
      h('th', { scope: 'col' }, t('province')),
      h('th', { scope: 'col' }, t('indicator')),
      h('th', { scope: 'col', class: 'num' }, t('target')),
      h('th', { scope: 'col', class: 'num' }, t('value')),
      h('th', { scope: 'col', class: 'num' }, t('ci')),
      h('th', { scope: 'col' }, t('result')),
    );
    body.push(h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'targets-table' }, h('thead', {}, head), tbody)));
  }
  for (const pv of planViews) {
    if (pv.error) {
      body.push(refusal(pv));
      continue;
    }
    const p = pv.data;
    const tbody = h('tbody', {});
    for (const task of p.tasks) {
      const last = task.progress.length ? task.progress[task.progress.length - 1] : null;
      const criteria = task.criteria.map((c) => `${label(defs.names.get(c.key), c.key)} ${c.diff === null || c.diff === undefined ? '' : `${arrow(c.diff, c.significant)} ${num(c.diff, { signed: true })}`}`);
      tbody.append(
        h(
          'tr',
          { 'data-task': String(task.id) },
          h('td', {}, task.content),
          h('td', {}, task.lead_agency, task.cooperating_agencies.length ? h('br') : null, task.cooperating_agencies.join(', ')),
          h('td', {}, task.deadline),
          h('td', {}, task.status),
          h('td', {}, criteria.join('; ')),
          h('td', {}, last ? `${last.period}: ${last.note}` : '—'),
        ),
      );
    }
    const head = h(
      'tr',
      {},
      h('th', { scope: 'col' }, t('task')),
      h('th', { scope: 'col' }, t('lead_agency')),
      h('th', { scope: 'col' }, t('deadline')),
      h('th', { scope: 'col' }, t('status')),
      h('th', { scope: 'col' }, t('criteria_change')),
      h('th', { scope: 'col' }, t('last_progress')),
    );
    body.push(h('h3', {}, `${p.title} (${p.province})`), h('div', { class: 'scroll' }, h('table', { class: 'data plan-table', 'data-plan': String(p.id) }, h('thead', {}, head), tbody)));
  }
  return card('targets', t('targets'), ...body);
}

/** Quality signals of the forms in view: the rate of each, and the enumerators ranked by score. */
function qualityCard(quality) {
  const refused = refusal(quality);
  if (refused) return card('quality', t('quality'), refused);
  const qd = quality.data;
  const rates = h('tbody', {});
  for (const x of qd.signals.filter((x) => x.forms > 0))
    rates.append(h('tr', { 'data-signal': x.signal }, h('th', { scope: 'row' }, signalName(x.signal)), h('td', { class: 'num' }, count(x.forms)), h('td', { class: 'num' }, `${num(100 * x.rate, { digits: 1 })} %`)));
  if (!rates.children.length) rates.append(h('tr', {}, h('td', { colspan: 3 }, t('no_flags'))));
  const top = h('tbody', {});
  for (const e of qd.enumerators.slice().sort((a, b) => b.score - a.score).slice(0, 10)) {
    const worst = e.signals.filter((x) => x.forms > 0).sort((a, b) => b.rate - a.rate).slice(0, 3);
    top.append(
      h(
        'tr',
        { 'data-enumerator': String(e.id) },
        h('th', { scope: 'row' }, e.username || String(e.id)),
        h('td', { class: 'num' }, count(e.forms)),
        h('td', { class: 'num' }, num(e.score)),
        h('td', {}, worst.map((x) => `${signalName(x.signal)} ${num(100 * x.rate, { digits: 0 })} %`).join('; ')),
      ),
    );
  }
  return card(
    'quality',
    t('quality'),
    h('p', { class: 'hint' }, t('quality_hint', count(qd.forms)), ' ', h('span', { id: 'quality-thresholds' }, t(qd.settings_source === 'round' ? 'quality_thresholds_round' : 'quality_thresholds_default'))),
    h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'quality-signals' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('signal')), h('th', { scope: 'col', class: 'num' }, t('n_forms')), h('th', { scope: 'col', class: 'num' }, t('rate')))), rates)),
    h('h3', {}, t('enumerators_by_score')),
    h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'quality-enumerators' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('enumerator')), h('th', { scope: 'col', class: 'num' }, t('n_forms')), h('th', { scope: 'col', class: 'num' }, t('score')), h('th', { scope: 'col' }, t('top_signals')))), top)),
  );
}

function signalName(code) {
  const key = `sig_${code}`;
  const text = t(key);
  return text === key ? code : text;
}

const PROGRESS_KEYS = ['quota', 'outstanding_quota', 'assigned', 'received', 'pending', 'approved', 'rejected', 'outstanding'];

function progressCard(progress) {
  const refused = refusal(progress);
  if (refused) return card('progress', t('progress'), refused);
  const p = progress.data;
  const totals = h('dl', { class: 'totals', id: 'progress-totals' });
  for (const k of PROGRESS_KEYS) totals.append(h('div', { 'data-key': k }, h('dt', {}, t(k)), h('dd', {}, count(p.totals[k] ?? 0))));
  const tbody = h('tbody', {});
  for (const u of p.units || [])
    tbody.append(h('tr', {}, h('th', { scope: 'row' }, u.name || u.code), ...PROGRESS_KEYS.map((k) => h('td', { class: 'num' }, count(u[k] ?? 0)))));
  const head = h('tr', {}, h('th', { scope: 'col' }, t('unit')), ...PROGRESS_KEYS.map((k) => h('th', { scope: 'col', class: 'num' }, t(k))));
  return card('progress', t('progress'), totals, h('div', { class: 'scroll' }, h('table', { class: 'data' }, h('thead', {}, head), tbody)));
}

function downloadsCard(r) {
  const unitQ = unitQuery(sel.unit);
  const status = h('p', { class: 'hint', id: 'download-status', 'aria-live': 'polite' });
  const button = (id, text, path, name) => {
    const b = h('button', { type: 'button', class: 'btn secondary', id }, text);
    b.addEventListener('click', async () => {
      b.disabled = true;
      status.textContent = t('downloading');
      try {
        const got = await api.download(path, name);
        status.textContent = t('downloaded', got.name);
        status.dataset.file = got.name;
        status.dataset.size = String(got.size);
      } catch (e) {
        if (e instanceof SessionOver) return showLogin(t('session_over'));
        status.textContent = t('error', problemText(e));
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const unitPath = sel.unit === 'VN' ? 'VN' : encodeURIComponent(sel.unit);
  const withQ = sel.with ? `&with=${encodeURIComponent(sel.with)}` : '';
  const lang = `lang=${getLang()}`;
  return card(
    'downloads',
    t('downloads'),
    h(
      'div',
      { class: 'row' },
      button('report-html', t('report_html'), `/api/v1/rounds/${r.code}/reports/${unitPath}?format=html${withQ}&${lang}`, `sipas-${r.code}-${sel.unit}.html`),
      button('report-docx', t('report_docx'), `/api/v1/rounds/${r.code}/reports/${unitPath}?format=docx${withQ}&${lang}`, `sipas-${r.code}-${sel.unit}.docx`),
      button('export-csv', t('export_csv'), `/api/v1/rounds/${r.code}/exports/forms${q('format=zip', unitQ, lang)}`, `sipas-${r.code}-${sel.unit}.zip`),
      button('export-xlsx', t('export_xlsx'), `/api/v1/rounds/${r.code}/exports/forms${q('format=xlsx', unitQ, lang)}`, `sipas-${r.code}-${sel.unit}.xlsx`),
    ),
    status,
  );
}

// ---------------------------------------------------------------------------------------------
// Start

async function guarded(fn) {
  try {
    await fn();
  } catch (e) {
    if (e instanceof SessionOver) showLogin(t('session_over'));
    else say(t('error', problemText(e)), 'error');
  }
}

function applyLang() {
  document.title = t('title');
  document.getElementById('title').textContent = t('title');
  document.getElementById('lang').textContent = t('language');
  document.getElementById('lang').setAttribute('aria-label', getLang() === 'vi' ? 'English' : 'Tiếng Việt');
  logoutBtn.textContent = t('logout');
}

function start() {
  setLang(getLang());
  applyLang();
  document.getElementById('lang').addEventListener('click', () => {
    setLang(getLang() === 'vi' ? 'en' : 'vi');
    applyLang();
    if (ctx.me) guarded(render);
    else showLogin();
  });
  logoutBtn.addEventListener('click', async () => {
    await api.logout();
    ctx.me = null;
    showLogin();
  });
  window.addEventListener('hashchange', () => {
    if (!ctx.me) return;
    readFragment();
    guarded(render);
  });
  if (api.hasSession()) guarded(startSession);
  else showLogin();
}

start();
