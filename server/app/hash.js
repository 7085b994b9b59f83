// Content hashes as the server computes them (`FormSubmission::content_hash`): SHA-256 of the
// canonical JSON of the whole submission (keys sorted by code point at every level, no white
// space, strings and numbers as serde_json writes them). The device sends it to `status` to prove
// which content it holds.

import { cmpCodePoints } from './rules.js';

/** Canonical JSON of a value read from JSON (the answers): numbers as they are on the wire. */
export function canonical(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const keys = Object.keys(v).sort(cmpCodePoints);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
}

/** An `f64` field as serde_json writes it (`22.0`, not `22`). */
export function f64(x) {
  return Number.isInteger(x) && Math.abs(x) < 1e16 ? `${x}.0` : JSON.stringify(x);
}

/** Lowercase hex SHA-256 of a text (UTF-8). */
export async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The canonical text of a submission, keys in byte order as the server writes them. */
export function submissionCanonical(s) {
  const str = JSON.stringify;
  let out = `{"answers":${canonical(s.answers)}`;
  if (s.finished_at) out += `,"finished_at":${str(s.finished_at)}`;
  if (s.gps) {
    out += ',"gps":{';
    if (s.gps.accuracy_m !== undefined && s.gps.accuracy_m !== null)
      out += `"accuracy_m":${f64(s.gps.accuracy_m)},`;
    out += `"lat":${f64(s.gps.lat)},"lon":${f64(s.gps.lon)}}`;
  }
  out += `,"household_ref":${str(s.household_ref)},"id":${str(s.id)}`;
  out += `,"questionnaire_code":${str(s.questionnaire_code)}`;
  out += `,"questionnaire_version":${s.questionnaire_version},"revision":${s.revision}`;
  out += `,"round":${str(s.round)}`;
  if (s.started_at) out += `,"started_at":${str(s.started_at)}`;
  out += `,"units":{"commune":${str(s.units.commune)}`;
  if (s.units.district) out += `,"district":${str(s.units.district)}`;
  out += `,"province":${str(s.units.province)},"village":${str(s.units.village)}}}`;
  return out;
}

/** `FormSubmission::content_hash` of a submission. */
export function contentHash(s) {
  return sha256Hex(submissionCanonical(s));
}

/** A time as the server writes it (RFC 3339, whole seconds, `Z`). */
export function rfc3339(date) {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** A UUIDv7 (time-ordered, as the reference client makes form ids). */
export function uuidv7() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
