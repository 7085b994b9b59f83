//! Diacritics- and case-insensitive folding of Vietnamese text for search.

/// Folds `s` for search: lowercase, Vietnamese diacritics removed (including
/// `đ`/`Đ` → `d`), whitespace runs collapsed to one space, ends trimmed.
///
/// Users type place names without tone marks ("lai chau") or with them in
/// either Unicode form, so both the stored names and the query are folded
/// the same way before comparing. Precomposed letters are mapped by an
/// explicit table of all Vietnamese letters; combining marks (text in NFD
/// form) are dropped, so no normalisation library is needed.
///
/// ```
/// assert_eq!(geography::fold("  Đắk   Lắk "), "dak lak");
/// ```
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if is_combining_mark(c) {
            continue;
        }
        for lc in c.to_lowercase() {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(base_letter(lc));
        }
    }
    out
}

/// Combining diacritics used by Vietnamese in decomposed (NFD) text: the five
/// tone marks and the circumflex, breve and horn; the whole block is dropped
/// since none of it carries meaning for search.
fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

/// Maps a lowercase Vietnamese letter to its base Latin letter.
fn base_letter(c: char) -> char {
    match c {
        'à' | 'á' | 'ả' | 'ã' | 'ạ' | 'ă' | 'ằ' | 'ắ' | 'ẳ' | 'ẵ' | 'ặ' | 'â' | 'ầ' | 'ấ' | 'ẩ'
        | 'ẫ' | 'ậ' => 'a',
        'è' | 'é' | 'ẻ' | 'ẽ' | 'ẹ' | 'ê' | 'ề' | 'ế' | 'ể' | 'ễ' | 'ệ' => 'e',
        'ì' | 'í' | 'ỉ' | 'ĩ' | 'ị' => 'i',
        'ò' | 'ó' | 'ỏ' | 'õ' | 'ọ' | 'ô' | 'ồ' | 'ố' | 'ổ' | 'ỗ' | 'ộ' | 'ơ' | 'ờ' | 'ớ' | 'ở'
        | 'ỡ' | 'ợ' => 'o',
        'ù' | 'ú' | 'ủ' | 'ũ' | 'ụ' | 'ư' | 'ừ' | 'ứ' | 'ử' | 'ữ' | 'ự' => 'u',
        'ỳ' | 'ý' | 'ỷ' | 'ỹ' | 'ỵ' => 'y',
        'đ' => 'd',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_vietnamese_names() {
        assert_eq!(fold("Lai Châu"), "lai chau");
        assert_eq!(fold("Đắk Lắk"), "dak lak");
        assert_eq!(fold("Thừa Thiên Huế"), "thua thien hue");
        assert_eq!(fold("Bà Rịa - Vũng Tàu"), "ba ria - vung tau");
        assert_eq!(fold("ĐẶC KHU CỒN CỎ"), "dac khu con co");
    }

    #[test]
    fn collapses_and_trims_whitespace() {
        assert_eq!(fold("  Lai \t\n Châu  "), "lai chau");
        assert_eq!(fold(""), "");
        assert_eq!(fold("   "), "");
    }

    #[test]
    fn every_vietnamese_vowel_folds() {
        let lower = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ";
        let folded = fold(lower);
        assert!(folded.chars().all(|c| "aeiouyd".contains(c)), "{folded}");
        assert_eq!(fold(&lower.to_uppercase()), folded);
    }

    #[test]
    fn decomposed_input_folds_like_composed() {
        // "Lai Châu" and "Đắk Lắk" with combining marks (NFD).
        assert_eq!(fold("Lai Cha\u{0302}u"), "lai chau");
        assert_eq!(fold("Đa\u{0306}\u{0301}k La\u{0306}\u{0301}k"), "dak lak");
    }
}
