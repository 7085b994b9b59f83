// Runs the enumerator app's rules module (server/app/rules.js) on the cases written by
// schema/tests/js_rules.rs and compares each verdict with the Rust validator's: same validity, and
// the same errors in the same order (field, code, Vietnamese and English message).
//
// Usage: node tests/js/rules_parity.mjs CASES.json   (exit 1 on any disagreement)

import { readFileSync } from 'node:fs';
import { validate } from '../../server/app/rules.js';

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const norm = (e) => ({
  question: e.question,
  code: e.code,
  vi: e.message.vi,
  en: e.message.en ?? null,
});
let bad = 0;
let valid = 0;
const byQuestionnaire = {};
doc.cases.forEach((c, i) => {
  const q = doc.questionnaires[c.questionnaire];
  const got = validate(q, c.answers, c.not_required || []);
  const want = c.errors.map(norm);
  const have = got.errors.map(norm);
  byQuestionnaire[c.questionnaire] = (byQuestionnaire[c.questionnaire] || 0) + 1;
  if (c.valid) valid++;
  if (got.valid !== c.valid || JSON.stringify(want) !== JSON.stringify(have)) {
    bad++;
    if (bad <= 10) {
      console.log(`case ${i} (${c.questionnaire}) disagrees`);
      console.log(`  answers: ${JSON.stringify(c.answers)}`);
      console.log(`  rust:    ${c.valid ? 'valid' : JSON.stringify(want)}`);
      console.log(`  js:      ${got.valid ? 'valid' : JSON.stringify(have)}`);
    }
  }
});
const total = doc.cases.length;
const per = Object.entries(byQuestionnaire)
  .map(([k, n]) => `${k} ${n}`)
  .join(', ');
if (bad > 0) {
  console.log(`${bad} of ${total} cases disagree`);
  process.exit(1);
}
console.log(`${total} cases agree (${valid} valid, ${total - valid} invalid; ${per})`);
