//! Bytes to text: finding a page's character encoding the way browsers do, and checking it.
//!
//! Order: a byte-order mark; the transport's charset (the HTTP header, when the caller has one);
//! a `<meta charset>` / `http-equiv` declaration (or an XML declaration) in the first 8 KiB; then
//! detection with chardetng. A declaration is trusted only when the bytes decode under it without
//! errors, or decode no better under the detected encoding: pages that say UTF-8 and are GBK, or
//! say GB2312 and use GBK-only characters, are common on the Chinese web. GB2312 and GBK labels
//! decode as GB18030, their superset, as browsers do.

use std::borrow::Cow;
use std::sync::LazyLock;

use encoding_rs::{Encoding, GB18030, UTF_8};
use regex::bytes::Regex;

/// How far into the document a declaration is looked for.
const DECLARATION_WINDOW: usize = 8 * 1024;

static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    // <meta charset="x">, <meta http-equiv=... content="text/html; charset=x">, <?xml encoding="x"?>
    // and the `<text ... encoding=x>` wrapper some corpora use.
    Regex::new(r#"(?i)<(?:meta|\?xml|text)\b[^>]*?(?:charset|encoding)\s*=\s*["']?\s*([A-Za-z0-9._:-]+)"#)
        .expect("static regex")
});

/// The text of `bytes` and the name of the encoding it was decoded with.
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: &'static str,
}

/// Looks up an encoding label, mapping the GB family to GB18030.
pub fn lookup(label: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label.trim().as_bytes())?;
    Some(if encoding.name() == "GBK" { GB18030 } else { encoding })
}

/// The charset declared in the document's first bytes, if any.
pub fn declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let window = &bytes[..bytes.len().min(DECLARATION_WINDOW)];
    let label = META_CHARSET.captures(window)?.get(1)?;
    lookup(std::str::from_utf8(label.as_bytes()).ok()?)
}

/// Decodes a document. `transport` is the charset the HTTP header named; `tld` (such as `cn`)
/// helps detection when nothing is declared.
pub fn decode<'a>(bytes: &'a [u8], transport: Option<&str>, tld: Option<&str>) -> Decoded<'a> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return Decoded { text, encoding: encoding.name() };
    }
    let claimed = transport.and_then(lookup).or_else(|| declared(bytes));
    if let Some(encoding) = claimed {
        // UTF-16 declared in an ASCII-compatible document is a lie browsers ignore.
        let encoding = encoding.output_encoding();
        if let Some(text) = encoding.decode_without_bom_handling_and_without_replacement(bytes) {
            return Decoded { text, encoding: encoding.name() };
        }
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        return Decoded { text: Cow::Borrowed(text), encoding: UTF_8.name() };
    }
    let detected = detect(bytes, tld);
    let candidates = claimed.map(Encoding::output_encoding).into_iter().chain([detected, GB18030, UTF_8]);
    // Fewest replacement characters wins; the claimed encoding wins ties.
    let mut best: Option<(usize, Cow<'a, str>, &'static Encoding)> = None;
    for encoding in candidates {
        if best.as_ref().is_some_and(|(_, _, e)| *e == encoding) {
            continue;
        }
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        let bad = text.matches('\u{FFFD}').count();
        if best.as_ref().is_none_or(|(b, _, _)| bad < *b) {
            best = Some((bad, text, encoding));
        }
        if bad == 0 {
            break;
        }
    }
    let (_, text, encoding) = best.expect("at least one candidate");
    Decoded { text, encoding: encoding.name() }
}

fn detect(bytes: &[u8], tld: Option<&str>) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(tld.map(str::as_bytes), chardetng::Utf8Detection::Allow);
    if encoding.name() == "GBK" { GB18030 } else { encoding }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        GB18030.encode(s).0.into_owned()
    }

    const ZH: &str = "山西忻州市河曲县人口十二万，是全省两个开展人口小县机构改革试点县之一。";

    #[test]
    fn meta_charset_is_honoured() {
        let mut page =
            b"<html><head><meta http-equiv=Content-Type content='text/html; charset=gb2312'></head><body>".to_vec();
        page.extend(gbk(ZH));
        let decoded = decode(&page, None, None);
        assert!(decoded.text.contains(ZH));
        assert_eq!(decoded.encoding, "gb18030");
    }

    #[test]
    fn undeclared_gbk_is_detected() {
        let mut page = b"<html><body><p>".to_vec();
        page.extend(gbk(&ZH.repeat(3)));
        assert!(decode(&page, None, None).text.contains(ZH));
    }

    #[test]
    fn a_lying_utf8_declaration_is_overruled() {
        let mut page = b"<meta charset=utf-8><p>".to_vec();
        page.extend(gbk(&ZH.repeat(3)));
        assert!(decode(&page, Some("utf-8"), None).text.contains(ZH));
    }

    #[test]
    fn bom_wins_and_other_encodings_decode() {
        let mut page = vec![0xEF, 0xBB, 0xBF];
        page.extend("<meta charset=gbk>café".as_bytes());
        assert!(decode(&page, None, None).text.ends_with("café"));

        let (big5, _, _) = encoding_rs::BIG5.encode("<meta charset=big5><p>臺灣新聞報導今天發布");
        assert!(decode(&big5, None, None).text.contains("臺灣新聞報導"));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("<meta charset=shift_jis><p>日本のニュース記事です");
        assert!(decode(&sjis, None, None).text.contains("日本のニュース"));
        let (latin, _, _) =
            encoding_rs::WINDOWS_1252.encode("<p>Caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e \u{201c}quoted\u{201d}</p>");
        assert!(decode(&latin, None, None).text.contains("Café crème brûlée “quoted”"));
    }
}
