// The questionnaire rules, as the browser evaluates them: relevance (skip logic), constraints,
// required answers, exclusive options, ranges and types. A line-by-line port of the `schema`
// crate's `validate` (schema/src/validate.rs): same order of checks, same error codes, same field
// addresses (`grid.item` for a grid row), same bilingual messages. The test
// `schema/tests/js_rules.rs` runs both on more than a thousand answer sets and requires the same
// verdict, codes, fields and messages.
//
// Pure: no DOM, no storage, no network; it runs unchanged in the browser and under Node.js.
//
// Numbers: the app sends JSON numbers it made from integer inputs and GPS fixes. JSON.parse cannot
// tell `2` from `2.0`; the Rust reader can (a float is the wrong type for an integer question).
// The app never writes `2.0`, and the parity test does not send such values.

/** How many unknown answer keys are reported one by one (as `MAX_UNKNOWN_REPORTED`). */
export const MAX_UNKNOWN_REPORTED = 20;

const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);

/** Compares two strings in Unicode code point order (= UTF-8 byte order, as Rust sorts keys). */
export function cmpCodePoints(a, b) {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0);
    const cy = y.value.codePointAt(0);
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

// Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` uses. Not JS's `trim`:
// that one also strips U+FEFF and keeps U+0085.
const WHITE_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Whether a text counts as no answer (empty or only white space, as Rust's `trim` sees it). */
export function isBlank(s) {
  for (const ch of s) if (!WHITE_SPACE.has(ch.codePointAt(0))) return false;
  return true;
}

/** Number of Unicode scalar values (Rust's `chars().count()`). */
export function charCount(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function clip(s) {
  const MAX = 64;
  let n = 0;
  let out = '';
  for (const ch of s) {
    if (n === MAX) return `${out}…`;
    out += ch;
    n++;
  }
  return s;
}

/** A strict `YYYY-MM-DD` date (year 0001–9999, a real calendar day), as `schema::parse_date`. */
export function parseDate(s) {
  if (s.length !== 10 || s[4] !== '-' || s[7] !== '-') return null;
  const num = (a, b) => {
    let v = 0;
    for (let i = a; i < b; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      v = v * 10 + (c - 48);
    }
    return v;
  };
  const y = num(0, 4);
  const m = num(5, 7);
  const d = num(8, 10);
  if (y === null || m === null || d === null) return null;
  if (y === 0 || m < 1 || m > 12 || d === 0 || d > daysInMonth(y, m)) return null;
  return [y, m, d];
}

function daysInMonth(y, m) {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** An f64 as Rust's `Display` writes it: shortest round-trip digits, never an exponent. */
export function rustFloat(x) {
  if (Object.is(x, -0)) return '-0';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'NaN';
  const s = String(x);
  const e = s.indexOf('e');
  if (e < 0) return s;
  let mant = s.slice(0, e);
  const exp = Number(s.slice(e + 1));
  const neg = mant.startsWith('-');
  if (neg) mant = mant.slice(1);
  const dot = mant.indexOf('.');
  const digits = mant.replace('.', '');
  const point = (dot < 0 ? mant.length : dot) + exp;
  let out;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

function fe(question, code, vi, en) {
  return { question, code, message: { vi, en } };
}

const EXPECTED = {
  single_choice: ['một mã phương án (chuỗi)', 'an option code (string)'],
  multiple_choice: ['một danh sách mã phương án', 'an array of option codes'],
  level: ['một mức (số nguyên) hoặc mã đặc biệt', 'a level (integer) or a special code'],
  grid: ['một đối tượng {mã dòng: mức}', 'an object {item code: level}'],
  integer: ['một số nguyên', 'an integer'],
  text: ['một chuỗi ký tự', 'a string'],
  date: ['ngày dạng chuỗi YYYY-MM-DD', 'a date string YYYY-MM-DD'],
  gps: ['một điểm GPS {lat, lon, accuracy}', 'a GPS point {lat, lon, accuracy}'],
};

function wrongType(at, kind) {
  const [vi, en] = EXPECTED[kind.type];
  return fe(at, 'wrong_type', `Kiểu dữ liệu không đúng: cần ${vi}.`, `Wrong type: expected ${en}.`);
}

function levelWrongType(at) {
  return wrongType(at, { type: 'level' });
}

function required(at) {
  return fe(at, 'required', 'Câu hỏi bắt buộc chưa được trả lời.', 'This question is required.');
}

function unknownOption(at, code) {
  return fe(
    at,
    'unknown_option',
    `Phương án “${clip(code)}” không có trong câu hỏi này.`,
    `Option "${clip(code)}" is not an option of this question.`,
  );
}

function outOfRange(at, value, range) {
  return fe(
    at,
    'out_of_range',
    `Giá trị ${clip(value)} nằm ngoài khoảng cho phép (${range}).`,
    `Value ${clip(value)} is outside the allowed range (${range}).`,
  );
}

function rangeText(min, max) {
  const has = (v) => v !== undefined && v !== null;
  if (has(min) && has(max)) return `${min}–${max}`;
  if (has(min)) return `≥ ${min}`;
  if (has(max)) return `≤ ${max}`;
  return '';
}

// Parsed answers: {t: 'absent'} | {t: 'bad', deferred: [errors]} | {t: 'ok', a: answer}, where an
// answer is one of
//   {k: 'choice', v}           {k: 'choices', v: [codes in option order]}
//   {k: 'level', level | special}    {k: 'grid', rows: Map item → level answer}
//   {k: 'integer', v}  {k: 'text', v}  {k: 'date', v}  {k: 'gps', lat, lon, accuracy}
const ABSENT = { t: 'absent' };
const bad = (deferred = []) => ({ t: 'bad', deferred });
const ok = (a) => ({ t: 'ok', a });

function parseLevel(address, scale, v, errors) {
  const n = scale.levels.length;
  if (typeof v === 'number') {
    if (isInt(v) && v >= 1 && v <= n) return { k: 'level', level: v };
    if (isInt(v)) {
      errors.push(outOfRange(address, String(v), rangeText(1, n)));
      return null;
    }
    errors.push(levelWrongType(address));
    return null;
  }
  if (typeof v === 'string') {
    const sp = (scale.special || []).find((o) => o.code === v);
    if (sp) return { k: 'level', special: sp.code };
    errors.push(unknownOption(address, v));
    return null;
  }
  errors.push(levelWrongType(address));
  return null;
}

function scaleOf(q, question) {
  const code = question.kind.scale;
  return (q.scales || []).find((s) => s.code === code) || null;
}

function parseWire(q, question, v, errors) {
  const code = question.code;
  const kind = question.kind;
  if (v === undefined || v === null) return ABSENT;
  const wt = () => {
    errors.push(wrongType(code, kind));
    return bad();
  };
  switch (kind.type) {
    case 'single_choice': {
      if (typeof v !== 'string') return wt();
      const o = kind.options.find((x) => x.code === v);
      if (o) return ok({ k: 'choice', v: o.code });
      errors.push(unknownOption(code, v));
      return bad();
    }
    case 'multiple_choice': {
      if (!Array.isArray(v)) return wt();
      const before = errors.length;
      const picked = [];
      for (const item of v) {
        if (typeof item !== 'string') {
          errors.push(wrongType(code, kind));
          continue;
        }
        const i = kind.options.findIndex((o) => o.code === item);
        if (i < 0) errors.push(unknownOption(code, item));
        else if (picked.includes(i))
          errors.push(
            fe(
              code,
              'duplicate_option',
              `Phương án “${clip(item)}” được chọn nhiều lần.`,
              `Option "${clip(item)}" is selected more than once.`,
            ),
          );
        else picked.push(i);
      }
      if (errors.length > before) return bad();
      picked.sort((a, b) => a - b);
      return ok({ k: 'choices', v: picked.map((i) => kind.options[i].code) });
    }
    case 'level': {
      const scale = scaleOf(q, question);
      if (!scale) return wt();
      const l = parseLevel(code, scale, v, errors);
      return l ? ok(l) : bad();
    }
    case 'grid': {
      if (!isObject(v)) return wt();
      const scale = scaleOf(q, question);
      if (!scale) return wt();
      const before = errors.length;
      const rows = new Map();
      let unknownRows = 0;
      const keys = Object.keys(v).sort(cmpCodePoints);
      for (const k of keys) {
        const item = kind.items.find((it) => it.code === k);
        if (!item) {
          unknownRows++;
          if (unknownRows <= MAX_UNKNOWN_REPORTED)
            errors.push(
              fe(
                `${code}.${clip(k)}`,
                'unknown_question',
                `Câu hỏi “${code}” không có dòng “${clip(k)}”.`,
                `Question "${code}" has no row "${clip(k)}".`,
              ),
            );
          continue;
        }
        const rv = v[k];
        if (rv === null) continue;
        const l = parseLevel(`${code}.${item.code}`, scale, rv, errors);
        if (l) rows.set(item.code, l);
      }
      if (unknownRows > MAX_UNKNOWN_REPORTED) {
        const more = unknownRows - MAX_UNKNOWN_REPORTED;
        errors.push(
          fe(
            code,
            'unknown_question',
            `Và ${more} dòng khác không có trong câu hỏi “${code}”.`,
            `And ${more} more rows that question "${code}" does not have.`,
          ),
        );
      }
      if (errors.length > before) {
        const missing = kind.items
          .filter((it) => !own(v, it.code) || v[it.code] === null)
          .map((it) => required(`${code}.${it.code}`));
        return bad(missing);
      }
      if (rows.size === 0) return ABSENT;
      return ok({ k: 'grid', rows });
    }
    case 'integer': {
      if (typeof v !== 'number') return wt();
      if (!isInt(v)) return wt();
      // Beyond i64: Rust reads a larger whole number as u64 (out of range), a smaller one as a
      // float (wrong type).
      if (v >= 2 ** 63) {
        errors.push(outOfRange(code, String(v), integerRange(kind)));
        return bad();
      }
      if (v < -(2 ** 63)) return wt();
      return ok({ k: 'integer', v });
    }
    case 'text': {
      if (typeof v !== 'string') return wt();
      return isBlank(v) ? ABSENT : ok({ k: 'text', v });
    }
    case 'date': {
      if (typeof v !== 'string') return wt();
      if (isBlank(v)) return ABSENT;
      if (parseDate(v)) return ok({ k: 'date', v });
      errors.push(
        fe(
          code,
          'invalid_date',
          `“${clip(v)}” không phải ngày hợp lệ (YYYY-MM-DD).`,
          `"${clip(v)}" is not a valid date (YYYY-MM-DD).`,
        ),
      );
      return bad();
    }
    case 'gps': {
      if (!isObject(v)) return wt();
      const keysOk = Object.keys(v).every((k) => k === 'lat' || k === 'lon' || k === 'accuracy');
      const num = (k) => (own(v, k) && typeof v[k] === 'number' ? v[k] : null);
      let acc = null;
      let accOk = true;
      if (own(v, 'accuracy') && v.accuracy !== null) {
        if (typeof v.accuracy === 'number') acc = v.accuracy;
        else accOk = false;
      }
      const lat = num('lat');
      const lon = num('lon');
      if (lat !== null && lon !== null && accOk && keysOk)
        return ok({ k: 'gps', lat, lon, accuracy: acc });
      return wt();
    }
    default:
      return wt();
  }
}

function integerRange(kind) {
  return rangeText(kind.min, kind.max);
}

/** Value checks of a well-formed answer: selections, ranges, lengths, required grid rows. */
function checkValue(question, a, errors) {
  const code = question.code;
  const kind = question.kind;
  const req = question.required !== false;
  switch (kind.type) {
    case 'multiple_choice': {
      const n = a.v.length;
      const lo = kind.min ?? 0;
      const hi = kind.max ?? kind.options.length;
      if (n < lo)
        errors.push(
          fe(
            code,
            'too_few_selections',
            `Cần chọn ít nhất ${lo} phương án (đã chọn ${n}).`,
            `Select at least ${lo} options (${n} selected).`,
          ),
        );
      if (n > hi)
        errors.push(
          fe(
            code,
            'too_many_selections',
            `Chỉ được chọn tối đa ${hi} phương án (đã chọn ${n}).`,
            `Select at most ${hi} options (${n} selected).`,
          ),
        );
      if (n > 1) {
        const o = kind.options.find((x) => x.exclusive && a.v.includes(x.code));
        if (o)
          errors.push(
            fe(
              code,
              'exclusive_option',
              `Phương án “${o.label.vi}” không được chọn cùng các phương án khác.`,
              `Option "${o.code}" cannot be combined with other options.`,
            ),
          );
      }
      break;
    }
    case 'grid':
      if (req && a.rows.size < kind.items.length)
        for (const it of kind.items)
          if (!a.rows.has(it.code)) errors.push(required(`${code}.${it.code}`));
      break;
    case 'integer': {
      const below = kind.min !== undefined && kind.min !== null && a.v < kind.min;
      const above = kind.max !== undefined && kind.max !== null && a.v > kind.max;
      if (below || above) errors.push(outOfRange(code, String(a.v), integerRange(kind)));
      break;
    }
    case 'text': {
      const n = charCount(a.v);
      if (n > kind.max_length)
        errors.push(
          fe(
            code,
            'too_long',
            `Nội dung dài ${n} ký tự, vượt quá ${kind.max_length} ký tự cho phép.`,
            `Text is ${n} characters long; at most ${kind.max_length} allowed.`,
          ),
        );
      break;
    }
    case 'date': {
      const below = kind.min != null && a.v < kind.min;
      const above = kind.max != null && a.v > kind.max;
      if (below || above) errors.push(outOfRange(code, a.v, rangeText(kind.min, kind.max)));
      break;
    }
    case 'gps': {
      const fine =
        Number.isFinite(a.lat) &&
        Number.isFinite(a.lon) &&
        a.lat >= -90 &&
        a.lat <= 90 &&
        a.lon >= -180 &&
        a.lon <= 180 &&
        (a.accuracy === null || (Number.isFinite(a.accuracy) && a.accuracy >= 0));
      if (!fine)
        errors.push(
          outOfRange(
            code,
            `(${rustFloat(a.lat)}, ${rustFloat(a.lon)})`,
            'lat −90–90, lon −180–180, accuracy ≥ 0',
          ),
        );
      break;
    }
    default:
      break;
  }
}

const CMP = {
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

/**
 * Three-valued evaluation of a condition: `true`, `false`, or `null` when it depends on a
 * malformed answer. `lookup(code)` answers `undefined` for a malformed answer, `null` for none.
 */
function evalCond(c, lookup) {
  const selected = (a, opt) =>
    a ? (a.k === 'choice' ? a.v === opt : a.k === 'choices' ? a.v.includes(opt) : false) : false;
  switch (c.op) {
    case 'selected': {
      const a = lookup(c.question);
      return a === undefined ? null : selected(a, c.option);
    }
    case 'any_selected': {
      const a = lookup(c.question);
      return a === undefined ? null : c.options.some((o) => selected(a, o));
    }
    case 'answered': {
      const a = lookup(c.question);
      return a === undefined ? null : a !== null;
    }
    case 'cmp': {
      const a = lookup(c.question);
      if (a === undefined) return null;
      let v = null;
      if (a && a.k === 'integer') v = a.v;
      else if (a && a.k === 'level' && a.level !== undefined) v = a.level;
      return v !== null && CMP[c.cmp](v, c.value);
    }
    case 'all': {
      let unknown = false;
      for (const x of c.of) {
        const r = evalCond(x, lookup);
        if (r === false) return false;
        if (r === null) unknown = true;
      }
      return unknown ? null : true;
    }
    case 'any': {
      let unknown = false;
      for (const x of c.of) {
        const r = evalCond(x, lookup);
        if (r === true) return true;
        if (r === null) unknown = true;
      }
      return unknown ? null : false;
    }
    case 'not': {
      const r = evalCond(c.of, lookup);
      return r === null ? null : !r;
    }
    default:
      return null;
  }
}

/** Every question of the questionnaire in asking order, with its section. */
export function questions(q) {
  const out = [];
  for (const s of q.sections) for (const question of s.questions) out.push(question);
  return out;
}

/**
 * Validates answers (an object keyed by question code, as sent on the wire) against a
 * questionnaire definition (its JSON, as the server publishes it).
 *
 * Returns `{valid, errors, relevant}`: `errors` in the validator's order (questionnaire order, then
 * unknown keys), each `{question, code, message: {vi, en}}`; `relevant` maps each question code to
 * `true`, `false`, or `null` (undecidable: it depends on a malformed answer), for the form view.
 * The questions of `notRequired` are optional even where the questionnaire requires them, as in
 * `schema::validate_with`: see `notRequiredFor`.
 */
export function validate(q, answers, notRequired = []) {
  const errors = [];
  const entries = new Map();
  const errored = new Set();
  const relevantOf = {};
  const known = new Set();
  for (const question of questions(q)) {
    known.add(question.code);
    const code = question.code;
    const v = own(answers, code) ? answers[code] : undefined;
    const parsed = parseWire(q, question, v, errors);
    const lookup = (current) => (c) => {
      if (current && current[0] === c) return current[1];
      if (errored.has(c)) return undefined;
      return entries.has(c) ? entries.get(c) : null;
    };
    const relevant = question.relevant ? evalCond(question.relevant, lookup(null)) : true;
    relevantOf[code] = relevant;
    const req = question.required !== false && !notRequired.includes(code);
    if (parsed.t === 'bad') {
      if (relevant === true && req) errors.push(...parsed.deferred);
      errored.add(code);
      continue;
    }
    if (parsed.t === 'absent') {
      if (relevant === true && req) errors.push(required(code));
      continue;
    }
    const answer = parsed.a;
    if (relevant === false) {
      errors.push(
        fe(
          code,
          'not_relevant',
          'Câu hỏi này không áp dụng theo các câu trả lời trước nên không được trả lời.',
          'This question does not apply given earlier answers and must not be answered.',
        ),
      );
      continue;
    }
    const before = errors.length;
    checkValue(question, answer, errors);
    if (errors.length === before) {
      for (const c of question.constraints || []) {
        if (evalCond(c.condition, lookup([code, answer])) === false)
          errors.push({
            question: code,
            code: 'constraint_failed',
            message: { vi: c.message.vi, en: c.message.en ?? null },
          });
      }
    }
    if (errors.length > before) {
      errored.add(code);
      continue;
    }
    entries.set(code, answer);
  }
  const unknown = Object.keys(answers)
    .filter((k) => !known.has(k))
    .sort(cmpCodePoints);
  for (const key of unknown.slice(0, MAX_UNKNOWN_REPORTED))
    errors.push(
      fe(
        clip(key),
        'unknown_question',
        `Không có câu hỏi “${clip(key)}” trong phiếu.`,
        `There is no question "${clip(key)}" in this questionnaire.`,
      ),
    );
  if (unknown.length > MAX_UNKNOWN_REPORTED) {
    const more = unknown.length - MAX_UNKNOWN_REPORTED;
    errors.push(
      fe(
        'answers',
        'unknown_question',
        `Và ${more} khóa khác không phải câu hỏi của phiếu.`,
        `And ${more} more keys that are not questions of this questionnaire.`,
      ),
    );
  }
  return { valid: errors.length === 0, errors, relevant: relevantOf };
}

/**
 * The answers with everything a skip made irrelevant removed, as the app sends them: answers to
 * questions that are not relevant (after earlier removals) are dropped, repeatedly, until stable.
 */
export function pruneIrrelevant(q, answers) {
  let current = { ...answers };
  for (let round = 0; round < 8; round++) {
    const { relevant } = validate(q, current);
    const drop = Object.keys(current).filter((k) => relevant[k] === false);
    if (drop.length === 0) return current;
    for (const k of drop) delete current[k];
  }
  return current;
}

/** The errors that belong to a question (its own and its grid rows'). */
export function errorsFor(errors, code) {
  return errors.filter((e) => e.question === code || e.question.startsWith(`${code}.`));
}

/**
 * The questions a form need not answer although the questionnaire requires them: the district
 * question when the form has no district (a geography without districts, 2025 on), as the Rust
 * `FormSubmission::not_required_answers`.
 */
export function notRequiredFor(units) {
  return units && units.district ? [] : ['district_code'];
}
