//! Compact binary encoding of validated answers (what the server stores).
//!
//! Layout (all relative to one questionnaire version; varints are unsigned LEB128):
//! - byte `FORMAT` (1), then varint questionnaire version;
//! - a presence bitmap of the questions in asking order, `ceil(n_questions / 8)` bytes, bit `i % 8`
//!   of byte `i / 8` set when question `i` is answered;
//! - for each answered question, in order:
//!   - single choice: varint option index;
//!   - multiple choice: an option bitmap, `ceil(n_options / 8)` bytes (selections are kept in option
//!     order, so this is lossless);
//!   - level: one byte, `1..=n` a level, `n + 1 + k` the k-th special code;
//!   - grid: one byte per row in row order, `0` unanswered, else as for level;
//!   - integer: zigzag varint;
//!   - text: varint byte length, UTF-8 bytes;
//!   - date: varint `yyyymmdd`;
//!   - GPS: flags byte (bit 0: accuracy present), latitude, longitude[, accuracy] as f64 LE.
//!
//! A complete SIPAS form takes about 100 bytes (its JSON about 2–4 KB).

use crate::date::parse_date;
use crate::model::{Question, QuestionKind, Questionnaire, Scale};
use crate::validate::{
    Answer, FieldError, GpsPoint, GridRows, LevelAnswer, Parsed, ValidAnswers, validate_core,
};

/// Version of the binary layout, first byte of every blob.
pub const FORMAT: u8 = 1;

/// Why a blob could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The blob ends early.
    #[error("blob truncated")]
    Truncated,
    /// The first byte is not a known layout version.
    #[error("unknown blob format {0}")]
    Format(u8),
    /// The blob was encoded against another version of the questionnaire.
    #[error("blob is for questionnaire version {found}, expected {expected}")]
    Version {
        /// The questionnaire's version.
        expected: u32,
        /// The version recorded in the blob.
        found: u64,
    },
    /// A value that no encoder produces (index out of range, bad UTF-8, stray bits …).
    #[error("malformed blob at question {question:?}: {reason}")]
    Malformed {
        /// Question code (or `header`).
        question: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bytes left over after the last answer.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// The decoded answers do not pass validation (e.g. relevance) against this questionnaire.
    #[error("decoded answers are not valid: {0:?}")]
    Invalid(Vec<FieldError>),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn level_byte(scale: Option<&Scale>, l: &LevelAnswer) -> u8 {
    match (l, scale) {
        (LevelAnswer::Level(n), _) => *n,
        (LevelAnswer::Special(code), Some(s)) => {
            let k = s.special_index(code).unwrap_or(0);
            s.n_levels().saturating_add(1).saturating_add(k as u8)
        }
        (LevelAnswer::Special(_), None) => 0,
    }
}

impl ValidAnswers {
    /// Encodes these answers compactly for storage (see the module docs of `codec` for the layout).
    ///
    /// `q` must be the questionnaire the answers were validated against; with another one the result
    /// is unspecified (never a panic) and [`ValidAnswers::decode`] will reject or misread it.
    pub fn encode(&self, q: &Questionnaire) -> Vec<u8> {
        let n_q = q.questions().count();
        let mut out = Vec::with_capacity(16 + n_q * 4);
        out.push(FORMAT);
        put_varint(&mut out, u64::from(q.version));
        let bitmap_at = out.len();
        out.resize(bitmap_at + n_q.div_ceil(8), 0);
        // When every answer sits at its own question's position in `q` and the questionnaire
        // validated against repeats no code, a question of `q` with no answer at its position
        // has none under its code either, if `q` is that questionnaire (as it must be): nothing
        // is looked up by code (the lookup's index would cost a sort of the codes per form).
        let by_position = !self.repeats && {
            let mut questions = q.questions().enumerate();
            self.entries.iter().all(|e| {
                questions
                    .by_ref()
                    .find(|(i, _)| *i == e.pos as usize)
                    .is_some_and(|(_, question)| question.code == e.code)
            })
        };
        // The entries are in asking order: walked beside the questions, with no lookup.
        let mut next = 0;
        for (i, question) in q.questions().enumerate() {
            while self.entries.get(next).is_some_and(|e| (e.pos as usize) < i) {
                next += 1;
            }
            let here = self
                .entries
                .get(next)
                .filter(|e| e.pos as usize == i && e.code == question.code);
            // Otherwise, unless the answers sit by position (above), the answer under the
            // question's code: a code several questions share, or answers that do not line up
            // with `q`.
            let under_code = || {
                if by_position {
                    None
                } else {
                    self.get(&question.code)
                }
            };
            let Some(a) = here.map(|e| &e.answer).or_else(under_code) else {
                continue;
            };
            out[bitmap_at + i / 8] |= 1 << (i % 8);
            encode_answer(&mut out, q, question, a);
        }
        out
    }

    /// Decodes a blob made by [`ValidAnswers::encode`] with the same questionnaire, and re-checks the
    /// result (relevance, required, ranges, constraints), so the output is always a valid form.
    /// Lossless: `decode(q, &v.encode(q)) == Ok(v)`.
    pub fn decode(q: &Questionnaire, bytes: &[u8]) -> Result<ValidAnswers, DecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        let format = r.byte()?;
        if format != FORMAT {
            return Err(DecodeError::Format(format));
        }
        let version = r.varint("header")?;
        if version != u64::from(q.version) {
            return Err(DecodeError::Version {
                expected: q.version,
                found: version,
            });
        }
        let n_q = q.questions().count();
        let bitmap = r.take(n_q.div_ceil(8))?;
        if !n_q.is_multiple_of(8) && bitmap[n_q / 8] >> (n_q % 8) != 0 {
            return Err(malformed("header", "bits set beyond the last question"));
        }
        let mut decoded: Vec<Option<Answer>> = Vec::with_capacity(n_q);
        for (i, question) in q.questions().enumerate() {
            if bitmap[i / 8] & (1 << (i % 8)) == 0 {
                decoded.push(None);
            } else {
                decoded.push(Some(decode_answer(&mut r, q, question)?));
            }
        }
        if r.pos != bytes.len() {
            return Err(DecodeError::Trailing(bytes.len() - r.pos));
        }
        let mut errors = Vec::new();
        let answers = validate_core(
            q,
            &crate::validate::CodeTable::new(q),
            |pos, _, _| match decoded.get_mut(pos).and_then(Option::take) {
                Some(a) => Parsed::Ok(a),
                None => Parsed::Absent,
            },
            &mut errors,
            // Stored answers were validated as their form's geography required; a form without
            // a district holds no district answer.
            &[crate::validate::DISTRICT_QUESTION],
        );
        if errors.is_empty() {
            Ok(answers)
        } else {
            Err(DecodeError::Invalid(errors))
        }
    }
}

fn encode_answer(out: &mut Vec<u8>, q: &Questionnaire, question: &Question, a: &Answer) {
    match (&question.kind, a) {
        (QuestionKind::SingleChoice { options }, Answer::Choice(c)) => {
            let i = options.iter().position(|o| &o.code == c).unwrap_or(0);
            put_varint(out, i as u64);
        }
        (QuestionKind::MultipleChoice { options, .. }, Answer::Choices(picked)) => {
            let at = out.len();
            out.resize(at + options.len().div_ceil(8), 0);
            for c in picked {
                if let Some(i) = options.iter().position(|o| &o.code == c) {
                    out[at + i / 8] |= 1 << (i % 8);
                }
            }
        }
        (QuestionKind::Level { .. }, Answer::Level(l)) => {
            out.push(level_byte(q.scale_of(question), l))
        }
        (QuestionKind::Grid { items, .. }, Answer::Grid(rows)) => {
            let scale = q.scale_of(question);
            for it in items {
                out.push(rows.get(&it.code).map_or(0, |l| level_byte(scale, l)));
            }
        }
        (QuestionKind::Integer { .. }, Answer::Integer(i)) => {
            put_varint(out, ((*i << 1) ^ (*i >> 63)) as u64);
        }
        (QuestionKind::Text { .. }, Answer::Text(s)) => {
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        (QuestionKind::Date { .. }, Answer::Date(d)) => {
            let v = parse_date(d).map_or(0, |(y, m, d)| {
                u64::from(y) * 10_000 + u64::from(m) * 100 + u64::from(d)
            });
            put_varint(out, v);
        }
        (QuestionKind::Gps {}, Answer::Gps(p)) => {
            out.push(u8::from(p.accuracy.is_some()));
            out.extend_from_slice(&p.lat.to_le_bytes());
            out.extend_from_slice(&p.lon.to_le_bytes());
            if let Some(a) = p.accuracy {
                out.extend_from_slice(&a.to_le_bytes());
            }
        }
        // An answer of another kind cannot come from validation against `q`; write a placeholder
        // of the right shape so the blob stays parseable.
        (kind, _) => match kind {
            QuestionKind::MultipleChoice { options, .. } => {
                out.resize(out.len() + options.len().div_ceil(8), 0)
            }
            QuestionKind::Grid { items, .. } => out.resize(out.len() + items.len(), 0),
            QuestionKind::Gps {} => out.extend_from_slice(&[0; 17]),
            _ => out.push(0),
        },
    }
}

fn malformed(question: &str, reason: &'static str) -> DecodeError {
    DecodeError::Malformed {
        question: question.to_owned(),
        reason,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn varint(&mut self, at: &str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(malformed(at, "varint overflow"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(malformed(at, "overlong varint"));
                }
                return Ok(v);
            }
        }
        Err(malformed(at, "varint overflow"))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
}

fn decode_level(b: u8, scale: &Scale, at: &str) -> Result<LevelAnswer, DecodeError> {
    let n = scale.n_levels();
    if (1..=n).contains(&b) {
        return Ok(LevelAnswer::Level(b));
    }
    let k = usize::from(b.wrapping_sub(n).wrapping_sub(1));
    match scale.special.get(k) {
        Some(o) if b > n => Ok(LevelAnswer::Special(o.code.clone())),
        _ => Err(malformed(at, "level byte out of range")),
    }
}

fn decode_answer(
    r: &mut Reader<'_>,
    q: &Questionnaire,
    question: &Question,
) -> Result<Answer, DecodeError> {
    let at = question.code.as_str();
    let scale = || {
        q.scale_of(question)
            .ok_or_else(|| malformed(at, "unknown scale"))
    };
    Ok(match &question.kind {
        QuestionKind::SingleChoice { options } => {
            let i = r.varint(at)?;
            let o = usize::try_from(i)
                .ok()
                .and_then(|i| options.get(i))
                .ok_or_else(|| malformed(at, "option index out of range"))?;
            Answer::Choice(o.code.clone())
        }
        QuestionKind::MultipleChoice { options, .. } => {
            let bits = r.take(options.len().div_ceil(8))?;
            let n = options.len();
            if !n.is_multiple_of(8) && bits[n / 8] >> (n % 8) != 0 {
                return Err(malformed(at, "bits set beyond the last option"));
            }
            Answer::Choices(
                options
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits[i / 8] & (1 << (i % 8)) != 0)
                    .map(|(_, o)| o.code.clone())
                    .collect(),
            )
        }
        QuestionKind::Level { .. } => {
            let b = r.byte()?;
            Answer::Level(decode_level(b, scale()?, at)?)
        }
        QuestionKind::Grid { items, .. } => {
            let scale = scale()?;
            let bytes = r.take(items.len())?;
            let mut rows = Vec::new();
            for (it, &b) in items.iter().zip(bytes) {
                if b != 0 {
                    rows.push((it.code.clone(), decode_level(b, scale, at)?));
                }
            }
            let rows: GridRows = rows.into_iter().collect();
            if rows.is_empty() {
                return Err(malformed(at, "grid marked answered with no rows"));
            }
            Answer::Grid(rows)
        }
        QuestionKind::Integer { .. } => {
            let z = r.varint(at)?;
            Answer::Integer(((z >> 1) as i64) ^ -((z & 1) as i64))
        }
        QuestionKind::Text { .. } => {
            let len = usize::try_from(r.varint(at)?).map_err(|_| DecodeError::Truncated)?;
            let bytes = r.take(len)?;
            let s = std::str::from_utf8(bytes).map_err(|_| malformed(at, "invalid UTF-8"))?;
            if s.trim().is_empty() {
                return Err(malformed(at, "blank text"));
            }
            Answer::Text(s.to_owned())
        }
        QuestionKind::Date { .. } => {
            let v = r.varint(at)?;
            let s = format!("{:04}-{:02}-{:02}", v / 10_000, v / 100 % 100, v % 100);
            if v > 99_991_231 || parse_date(&s).is_none() {
                return Err(malformed(at, "invalid date"));
            }
            Answer::Date(s)
        }
        QuestionKind::Gps {} => {
            let flags = r.byte()?;
            if flags > 1 {
                return Err(malformed(at, "bad GPS flags"));
            }
            let lat = r.f64()?;
            let lon = r.f64()?;
            let accuracy = if flags == 1 { Some(r.f64()?) } else { None };
            Answer::Gps(GpsPoint { lat, lon, accuracy })
        }
    })
}

/// One stored answer as [`walk`] reads it: positions and raw values, no strings built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StoredAnswer<'a> {
    /// Single choice: the option's index in the question's options.
    Choice(usize),
    /// Multiple choice: the selection bitmap (bit `i` = option `i`).
    Choices(&'a [u8]),
    /// Level: `1..=n` a level, above `n` the special answer `b - n - 1` of the scale.
    Level(u8),
    /// Grid: one byte per item in item order, `0` unanswered, else as [`StoredAnswer::Level`].
    Grid(&'a [u8]),
    /// Integer.
    Integer(i64),
    /// Text.
    Text(&'a str),
    /// Date as `YYYYMMDD`.
    Date(u32),
    /// GPS: latitude, longitude, accuracy.
    Gps(f64, f64, Option<f64>),
}

/// Reads a stored blob of `q` (as [`ValidAnswers::encode`] wrote it) and calls `f` with each
/// answered question's position in asking order and its raw value, without building the
/// answers or re-validating them: for readers of many stored forms (exports) that trust what
/// the server validated when it stored them. The layout is checked as it is read (a malformed
/// blob is an error, never a panic); relevance and ranges are not re-checked, as
/// [`ValidAnswers::decode`] does.
pub fn walk<'a>(
    q: &Questionnaire,
    bytes: &'a [u8],
    mut f: impl FnMut(usize, StoredAnswer<'a>),
) -> Result<(), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let format = r.byte()?;
    if format != FORMAT {
        return Err(DecodeError::Format(format));
    }
    let version = r.varint("header")?;
    if version != u64::from(q.version) {
        return Err(DecodeError::Version {
            expected: q.version,
            found: version,
        });
    }
    let n_q = q.questions().count();
    let bitmap = r.take(n_q.div_ceil(8))?;
    for (i, question) in q.questions().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) == 0 {
            continue;
        }
        let at = question.code.as_str();
        let a = match &question.kind {
            QuestionKind::SingleChoice { .. } => {
                StoredAnswer::Choice(usize::try_from(r.varint(at)?).unwrap_or(usize::MAX))
            }
            QuestionKind::MultipleChoice { options, .. } => {
                StoredAnswer::Choices(r.take(options.len().div_ceil(8))?)
            }
            QuestionKind::Level { .. } => StoredAnswer::Level(r.byte()?),
            QuestionKind::Grid { items, .. } => StoredAnswer::Grid(r.take(items.len())?),
            QuestionKind::Integer { .. } => {
                let z = r.varint(at)?;
                StoredAnswer::Integer(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            QuestionKind::Text { .. } => {
                let len = usize::try_from(r.varint(at)?).map_err(|_| DecodeError::Truncated)?;
                let b = r.take(len)?;
                StoredAnswer::Text(
                    std::str::from_utf8(b).map_err(|_| malformed(at, "invalid UTF-8"))?,
                )
            }
            QuestionKind::Date { .. } => {
                StoredAnswer::Date(u32::try_from(r.varint(at)?).unwrap_or(0))
            }
            QuestionKind::Gps {} => {
                let flags = r.byte()?;
                let lat = r.f64()?;
                let lon = r.f64()?;
                let acc = if flags == 1 { Some(r.f64()?) } else { None };
                StoredAnswer::Gps(lat, lon, acc)
            }
        };
        f(i, a);
    }
    if r.pos != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - r.pos));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_reads_what_decode_reads() {
        let q = crate::builtin::sipas();
        let valid = crate::validate(q, &crate::sample::complete_sipas_answers()).unwrap();
        let blob = valid.encode(q);
        let mut seen = Vec::new();
        walk(q, &blob, |pos, a| seen.push((pos, a))).unwrap();
        assert_eq!(seen.len(), valid.len());
        for (pos, a) in seen {
            let question = q.questions().nth(pos).unwrap();
            match (a, valid.at(pos).unwrap()) {
                (StoredAnswer::Choice(i), Answer::Choice(c)) => {
                    assert_eq!(&question.kind.options()[i].code, c)
                }
                (StoredAnswer::Integer(v), Answer::Integer(w)) => assert_eq!(v, *w),
                (StoredAnswer::Text(t), Answer::Text(u)) => assert_eq!(t, u),
                (StoredAnswer::Grid(b), Answer::Grid(rows)) => {
                    assert_eq!(b.iter().filter(|&&x| x != 0).count(), rows.len())
                }
                (StoredAnswer::Choices(bits), Answer::Choices(picked)) => {
                    let n: u32 = bits.iter().map(|b| b.count_ones()).sum();
                    assert_eq!(n as usize, picked.len())
                }
                (StoredAnswer::Level(_), Answer::Level(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(walk(q, &blob[..blob.len() - 1], |_, _| {}).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader {
                bytes: &out,
                pos: 0,
            };
            assert_eq!(r.varint("t").unwrap(), v);
            assert_eq!(r.pos, out.len());
        }
        let mut r = Reader {
            bytes: &[0x80, 0x00],
            pos: 0,
        };
        assert!(r.varint("t").is_err());
        let mut r = Reader {
            bytes: &[0xff; 11],
            pos: 0,
        };
        assert!(r.varint("t").is_err());
    }
}
