//! The article's language: the page's own declaration when the text agrees with it, else
//! detection (script counts for CJK, whatlang's trigrams for the rest).

use shared::text::is_cjk;

const SAMPLE_CHARS: usize = 4000;

/// Whether a character is Kana (Japanese) or Hangul (Korean).
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x31F0..=0x31FF)
}

fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F)
}

/// The language tag to publish: a BCP 47 primary tag or `und`.
pub fn resolve(declared: Option<&str>, text: &str) -> String {
    let (mut alnum, mut cjk, mut kana, mut hangul) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphanumeric()).take(SAMPLE_CHARS) {
        alnum += 1;
        if is_cjk(c) {
            cjk += 1;
        }
        if is_kana(c) {
            kana += 1;
        }
        if is_hangul(c) {
            hangul += 1;
        }
    }
    let cjk_language = || {
        if hangul * 2 > cjk {
            "ko"
        } else if kana * 20 > cjk {
            "ja"
        } else {
            "zh"
        }
    };
    let is_cjk_tag = |t: &str| matches!(t, "zh" | "ja" | "ko");
    let mostly_cjk = alnum > 0 && cjk * 10 > alnum * 3;
    match declared {
        Some(d) if mostly_cjk && is_cjk_tag(d) => d.to_owned(),
        _ if mostly_cjk => cjk_language().to_owned(),
        // A CJK declaration on a page with hardly any CJK text is a template default.
        Some(d) if is_cjk_tag(d) && cjk * 20 < alnum => detect(text).unwrap_or_else(|| "und".into()),
        Some(d) => d.to_owned(),
        None => detect(text).unwrap_or_else(|| "und".into()),
    }
}

fn detect(text: &str) -> Option<String> {
    let end = text.char_indices().nth(SAMPLE_CHARS).map_or(text.len(), |(i, _)| i);
    let info = whatlang::detect(&text[..end])?;
    if info.confidence() < 0.3 {
        return None;
    }
    iso639_1(info.lang().code()).map(str::to_owned)
}

/// ISO 639-1 for the ISO 639-3 codes whatlang returns.
fn iso639_1(code: &str) -> Option<&'static str> {
    Some(match code {
        "epo" => "eo",
        "eng" => "en",
        "rus" => "ru",
        "cmn" => "zh",
        "spa" => "es",
        "por" => "pt",
        "ita" => "it",
        "ben" => "bn",
        "fra" => "fr",
        "deu" => "de",
        "ukr" => "uk",
        "kat" => "ka",
        "ara" => "ar",
        "hin" => "hi",
        "jpn" => "ja",
        "heb" => "he",
        "yid" => "yi",
        "pol" => "pl",
        "amh" => "am",
        "jav" => "jv",
        "kor" => "ko",
        "nob" => "nb",
        "dan" => "da",
        "swe" => "sv",
        "fin" => "fi",
        "tur" => "tr",
        "nld" => "nl",
        "hun" => "hu",
        "ces" => "cs",
        "ell" => "el",
        "bul" => "bg",
        "bel" => "be",
        "mar" => "mr",
        "kan" => "kn",
        "ron" => "ro",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "mkd" => "mk",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "tam" => "ta",
        "vie" => "vi",
        "urd" => "ur",
        "tha" => "th",
        "guj" => "gu",
        "uzb" => "uz",
        "pan" => "pa",
        "aze" => "az",
        "ind" => "id",
        "tel" => "te",
        "pes" => "fa",
        "mal" => "ml",
        "ori" => "or",
        "mya" => "my",
        "nep" => "ne",
        "sin" => "si",
        "khm" => "km",
        "tuk" => "tk",
        "aka" => "ak",
        "zul" => "zu",
        "sna" => "sn",
        "afr" => "af",
        "lat" => "la",
        "slk" => "sk",
        "cat" => "ca",
        "tgl" => "tl",
        "hye" => "hy",
        "cym" => "cy",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_language_is_kept_when_the_text_agrees() {
        assert_eq!(resolve(Some("fr"), "Le conseil municipal a voté mardi."), "fr");
        assert_eq!(resolve(Some("zh"), "山西忻州市河曲县人口十二万"), "zh");
    }

    #[test]
    fn text_overrules_a_wrong_declaration_and_fills_a_missing_one() {
        assert_eq!(resolve(Some("en"), "山西忻州市河曲县人口十二万，是全省两个试点县之一。"), "zh");
        assert_eq!(resolve(None, "日本のニュース記事です。東京で会議が開かれました。"), "ja");
        let english = "The city council voted on Tuesday to approve a new budget for parks and schools, \
                       after a long debate about taxes and the cost of public transport in the region.";
        assert_eq!(resolve(None, english), "en");
        assert_eq!(resolve(Some("zh"), english), "en");
        assert_eq!(resolve(None, ""), "und");
    }
}
