// The form view: renders a questionnaire from its published definition (not hand-written HTML),
// one section at a time, and re-evaluates the rules (rules.js: the same as the server's validator)
// at every answer: hidden questions that do not apply, errors next to each question with the
// questionnaire's Vietnamese (or English) messages, and progress.

import { errorsFor, notRequiredFor, pruneIrrelevant, questions, validate } from './rules.js';
import { label, serverText, t } from './i18n.js';

/** `h('div', {class: 'x'}, child, …)`: elements without innerHTML (nothing user-typed is parsed). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/** The answers as they will be sent (what no longer applies removed) and their verdict. */
export function evaluate(q, answers, units) {
  const sent = pruneIrrelevant(q, answers);
  return { sent, ...validate(q, sent, notRequiredFor(units)) };
}

/**
 * Builds the cards of one section. `state` = {q, answers, showRequired:Set(section index)};
 * `onChange()` is called after every answer (the caller saves the draft and calls `refresh`).
 */
export function renderSection(q, sectionIndex, state, onChange) {
  const section = q.sections[sectionIndex];
  const wrap = h('div', { class: 'section', 'data-section': sectionIndex });
  wrap.append(h('h2', { class: 'section-title' }, label(section.title)));
  for (const question of section.questions) wrap.append(card(q, question, state, onChange));
  return wrap;
}

function scaleOf(q, question) {
  return (q.scales || []).find((s) => s.code === question.kind.scale);
}

function card(q, question, state, onChange) {
  const code = question.code;
  const required = question.required !== false;
  const el = h(
    'fieldset',
    { class: 'q', 'data-code': code },
    h('legend', { class: 'q-label' }, label(question.label), required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
  );
  if (question.hint) el.append(h('p', { class: 'hint' }, label(question.hint)));
  el.append(h('p', { class: 'undecided', hidden: true }, t('not_decidable')));
  const set = (v) => {
    if (v === undefined || v === null || v === '') delete state.answers[code];
    else state.answers[code] = v;
    onChange(code);
  };
  const value = state.answers[code];
  const k = question.kind;
  switch (k.type) {
    case 'single_choice':
      el.append(choiceList(code, 'radio', k.options, value === undefined ? [] : [value], (picked) => set(picked[0])));
      break;
    case 'multiple_choice':
      el.append(
        choiceList(code, 'checkbox', k.options, Array.isArray(value) ? value : [], (picked) =>
          set(picked.length ? picked : undefined),
        ),
      );
      break;
    case 'level':
      el.append(levelButtons(code, scaleOf(q, question), value, (v) => set(v)));
      break;
    case 'grid': {
      const scale = scaleOf(q, question);
      const rows = value && typeof value === 'object' ? { ...value } : {};
      for (const item of k.items) {
        const row = h('div', { class: 'grid-row', 'data-row': `${code}.${item.code}` }, h('p', { class: 'row-label' }, label(item.label)));
        row.append(
          levelButtons(`${code}.${item.code}`, scale, rows[item.code], (v) => {
            if (v === undefined) delete rows[item.code];
            else rows[item.code] = v;
            set(Object.keys(rows).length ? { ...rows } : undefined);
          }),
        );
        row.append(h('ul', { class: 'errors row-errors', 'data-for': `${code}.${item.code}` }));
        el.append(row);
      }
      break;
    }
    case 'integer': {
      const input = h('input', {
        type: 'number',
        inputmode: 'numeric',
        name: code,
        min: k.min,
        max: k.max,
        step: 1,
        value: value ?? '',
        'aria-label': label(question.label),
      });
      input.addEventListener('input', () => {
        const s = input.value.trim();
        set(s === '' ? undefined : Number(s));
      });
      el.append(input);
      break;
    }
    case 'text': {
      const big = k.max_length > 120;
      const input = h(big ? 'textarea' : 'input', {
        name: code,
        rows: big ? 3 : undefined,
        type: big ? undefined : 'text',
        'aria-label': label(question.label),
      });
      input.value = value ?? '';
      const count = h('p', { class: 'count' });
      const show = () => {
        count.textContent = t('chars', [...input.value].length, k.max_length);
      };
      show();
      input.addEventListener('input', () => {
        show();
        set(input.value === '' ? undefined : input.value);
      });
      el.append(input, count);
      break;
    }
    case 'date': {
      const input = h('input', { type: 'date', name: code, min: k.min, max: k.max, value: value ?? '', 'aria-label': label(question.label) });
      input.addEventListener('change', () => set(input.value || undefined));
      el.append(input);
      break;
    }
    case 'gps':
      el.append(gpsControl(value, set));
      break;
    default:
      el.append(h('p', {}, k.type));
  }
  el.append(h('ul', { class: 'errors', 'data-for': code }));
  return el;
}

/** Radio or checkbox options as large tap targets; exclusive options clear the others. */
function choiceList(name, type, options, picked, onPick) {
  const list = h('div', { class: 'choices', role: type === 'radio' ? 'radiogroup' : 'group' });
  const inputs = [];
  for (const o of options) {
    const id = nextId(name);
    const input = h('input', { type, id, name, value: o.code, checked: picked.includes(o.code) });
    inputs.push([input, o]);
    list.append(h('label', { class: `choice${o.exclusive ? ' exclusive' : ''}`, for: id }, input, h('span', {}, label(o.label))));
  }
  list.addEventListener('change', (ev) => {
    const changed = inputs.find(([i]) => i === ev.target);
    if (type === 'checkbox' && changed && changed[0].checked) {
      // "None of these" and the others exclude each other: the last tap wins.
      for (const [i, o] of inputs)
        if (i !== changed[0] && (changed[1].exclusive || o.exclusive)) i.checked = false;
    }
    onPick(inputs.filter(([i]) => i.checked).map(([, o]) => o.code));
  });
  if (type === 'radio') {
    // A second tap on the chosen option clears it (an answer can be taken back).
    for (const [input] of inputs)
      input.addEventListener('click', () => {
        if (input.dataset.was === '1') {
          input.checked = false;
          input.dataset.was = '0';
          onPick([]);
        } else {
          for (const [i] of inputs) i.dataset.was = '0';
          input.dataset.was = '1';
        }
      });
    for (const [input] of inputs) input.dataset.was = input.checked ? '1' : '0';
  }
  return list;
}

/** A scale's levels (1…n with their labels) and special answers, one tap each. */
function levelButtons(name, scale, value, onPick) {
  const options = scale.levels.map((l, i) => ({ code: i + 1, label: { vi: `${i + 1}. ${l.vi}`, en: l.en ? `${i + 1}. ${l.en}` : undefined } }));
  for (const s of scale.special || []) options.push({ code: s.code, label: s.label, special: true });
  const list = h('div', { class: 'choices levels', role: 'radiogroup' });
  const inputs = [];
  for (const o of options) {
    const id = nextId(name);
    const input = h('input', { type: 'radio', id, name, value: String(o.code), checked: value === o.code });
    inputs.push([input, o]);
    list.append(h('label', { class: `choice${o.special ? ' special' : ''}`, for: id }, input, h('span', {}, label(o.label))));
  }
  for (const [input] of inputs) input.dataset.was = input.checked ? '1' : '0';
  for (const [input, o] of inputs) {
    input.addEventListener('click', () => {
      if (input.dataset.was === '1') {
        input.checked = false;
        input.dataset.was = '0';
        onPick(undefined);
        return;
      }
      for (const [i] of inputs) i.dataset.was = '0';
      input.dataset.was = '1';
      onPick(o.code);
    });
  }
  return list;
}

/** The browser's geolocation, as `{lat, lon, accuracy}`. */
export function gpsControl(value, set, { fieldAccuracy = 'accuracy' } = {}) {
  const out = h('p', { class: 'gps-value' });
  const show = (v) => {
    out.textContent = v ? `${v.lat.toFixed(6)}, ${v.lon.toFixed(6)}${v[fieldAccuracy] != null ? ` (±${Math.round(v[fieldAccuracy])} m)` : ''}` : '';
  };
  show(value);
  const get = h('button', { type: 'button', class: 'btn secondary' }, t('get_gps'));
  get.addEventListener('click', () => {
    if (!navigator.geolocation) {
      out.textContent = t('gps_failed', '—');
      return;
    }
    out.textContent = t('gps_wait');
    navigator.geolocation.getCurrentPosition(
      (p) => {
        const v = { lat: p.coords.latitude, lon: p.coords.longitude, [fieldAccuracy]: p.coords.accuracy };
        show(v);
        set(v);
      },
      (e) => {
        out.textContent = t('gps_failed', e.message);
      },
      { enableHighAccuracy: true, timeout: 30000, maximumAge: 60000 },
    );
  });
  const clear = h('button', { type: 'button', class: 'btn secondary' }, t('clear'));
  clear.addEventListener('click', () => {
    show(null);
    set(undefined);
  });
  return h('div', { class: 'gps' }, h('div', { class: 'row' }, get, clear), out);
}

/**
 * Updates the rendered cards from the rules' verdict: hides what does not apply, marks what cannot
 * be decided, lists each question's errors. `required` errors show only in sections the enumerator
 * has moved past (or after Finish). Returns the verdict.
 */
export function refresh(root, q, state) {
  const verdict = evaluate(q, state.answers, state.units);
  const sectionOf = new Map();
  q.sections.forEach((s, i) => s.questions.forEach((x) => sectionOf.set(x.code, i)));
  for (const cardEl of root.querySelectorAll('fieldset.q')) {
    const code = cardEl.dataset.code;
    const rel = verdict.relevant[code];
    cardEl.hidden = rel === false;
    cardEl.querySelector('.undecided').hidden = rel !== null;
    const show = state.showRequired.has(sectionOf.get(code));
    const errs = errorsFor(verdict.errors, code).filter((e) => show || e.code !== 'required');
    for (const list of cardEl.querySelectorAll('ul.errors')) list.replaceChildren();
    for (const e of errs) {
      const list = cardEl.querySelector(`ul.errors[data-for="${CSS.escape(e.question)}"]`) || cardEl.querySelector(`ul.errors[data-for="${CSS.escape(code)}"]`);
      list.append(h('li', { 'data-code': e.code }, serverText(e.message.vi, e.message.en)));
    }
    cardEl.classList.toggle('has-error', errs.length > 0);
  }
  return verdict;
}

/** Answered and relevant questions, for the progress bar. */
export function progress(q, verdict) {
  const all = questions(q).filter((x) => verdict.relevant[x.code] !== false);
  const answered = all.filter((x) => verdict.sent[x.code] !== undefined).length;
  return [answered, all.length];
}

/** The first section with an error (to jump to after Finish). */
export function firstErrorSection(q, verdict) {
  for (let i = 0; i < q.sections.length; i++)
    for (const x of q.sections[i].questions) if (errorsFor(verdict.errors, x.code).length) return i;
  return -1;
}
