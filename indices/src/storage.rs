//! How the statistics are kept between runs: the compact stored form of a village's counts, and
//! the cluster key a village's forms are counted under.

use crate::{ClusterStats, StatsError, StatsLayout};

/// Format byte of [`encode_counts`]: LEB128 varints of the counts in layout order.
const COUNTS_VARINT: u8 = 1;

/// The stored form of a village's counts: a format byte, then each count as an LEB128 varint.
///
/// Most counts of a village are small (a few dozen forms), so this is about a quarter of the four
/// bytes per count of [`ClusterStats::to_bytes`]; every push rewrites the rows it touches, and the
/// smaller row is what keeps that cheap (PostgreSQL would otherwise compress ~13 KB per row).
pub fn encode_counts(stats: &ClusterStats) -> Vec<u8> {
    let raw = stats.to_bytes();
    let mut out = Vec::with_capacity(1 + raw.len() / 3);
    out.push(COUNTS_VARINT);
    for c in raw.chunks_exact(4) {
        let mut v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out
}

/// Reads [`encode_counts`] back, checked against the layout: a truncated, foreign or overlong
/// encoding is an error, never a panic or a wrong value.
pub fn decode_counts(layout: &StatsLayout, bytes: &[u8]) -> Result<ClusterStats, StatsError> {
    let mismatch = |found| StatsError::LayoutMismatch {
        expected: layout.len(),
        found,
    };
    let Some((&COUNTS_VARINT, body)) = bytes.split_first() else {
        return Err(mismatch(0));
    };
    let mut raw = Vec::with_capacity(layout.len() * 4);
    let (mut v, mut shift) = (0u32, 0u32);
    for &b in body {
        if shift > 28 {
            return Err(StatsError::Overflow);
        }
        v |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            raw.extend_from_slice(&v.to_le_bytes());
            (v, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(mismatch(raw.len() / 4));
    }
    ClusterStats::from_bytes(layout, &raw)
}

/// The normalised village code used as the cluster key: Vietnamese diacritics, case and
/// whitespace runs do not matter ("Thôn 3", "thon 3", "THÔN  3" are one village).
///
/// Enumerators type village codes by hand, with or without tone marks and in either Unicode form;
/// treating those spellings as different villages would split one cluster into several and make
/// the design-based intervals too narrow. Two villages of one commune whose names differ only by
/// tone marks would be merged; that errs toward a coarser cluster, which only widens intervals.
///
/// At most 64 characters, like the village code itself (lowercasing can lengthen a few letters).
pub fn cluster_key(village: &str) -> String {
    let folded = ::geography::fold(village);
    let key = if folded.is_empty() {
        village.trim()
    } else {
        folded.as_str()
    };
    key.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_through_their_stored_form() {
        let q = schema::builtin::sipas();
        let layout = StatsLayout::new(q);
        let form = schema::validate(q, &schema::sample::complete_sipas_answers()).unwrap();
        let mut stats = ClusterStats::new(&layout);
        for _ in 0..1_000 {
            stats.add_form(&layout, &form).unwrap();
        }
        let bytes = encode_counts(&stats);
        assert!(
            bytes.len() < stats.to_bytes().len() / 2,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(decode_counts(&layout, &bytes).unwrap(), stats);
        let empty = ClusterStats::new(&layout);
        assert_eq!(
            decode_counts(&layout, &encode_counts(&empty)).unwrap(),
            empty
        );
        // Truncated, wrong format or wrong layout: an error, never a panic or a wrong value.
        assert!(decode_counts(&layout, &bytes[..bytes.len() - 1]).is_err());
        assert!(decode_counts(&layout, &[]).is_err());
        assert!(decode_counts(&layout, &stats.to_bytes()).is_err());
        assert!(
            decode_counts(
                &layout,
                &[COUNTS_VARINT, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
            )
            .is_err()
        );
    }

    #[test]
    fn cluster_keys_ignore_case_marks_and_spacing() {
        assert_eq!(cluster_key("Thôn 3"), "thon 3");
        assert_eq!(cluster_key("  THÔN   3 "), "thon 3");
        assert_eq!(cluster_key("thon 3"), "thon 3");
        // Decomposed (NFD) input folds the same as precomposed.
        assert_eq!(cluster_key("Tho\u{302}n 3"), "thon 3");
        assert_ne!(cluster_key("Thôn 3"), cluster_key("Thôn 4"));
        // 'İ' lowercases to two characters: the key still fits the 64-character column.
        assert_eq!(cluster_key(&"İ".repeat(64)).chars().count(), 64);
    }
}
