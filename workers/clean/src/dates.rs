//! Publication dates in the spellings pages use: ISO 8601 / RFC 3339, RFC 2822, numeric dates
//! with `-`, `/`, `.` or `年月日`, and English month names. A date without a zone is read in the
//! zone the caller assumes (China Standard Time for Chinese pages, else UTC); a date without a
//! time is taken at midnight of that zone.

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use regex::Regex;

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?:\s*日)?(?:(?:T|\s*)(\d{1,2})\s*[:：时]\s*(\d{2})(?:\s*[:：分]\s*(\d{2})(?:\.\d+)?)?)?\s*(Z(?-u:\b)|[+-]\d{2}:?\d{2}(?-u:\b)|GMT|UTC)?",
    )
    .expect("static regex")
});

static MONTH_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+((?:19|20)\d{2})(?:,?\s+(?:at\s+)?(\d{1,2})[:.](\d{2})\s*([ap]\.?m\.?)?)?",
    )
    .expect("static regex")
});

static DAY_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(\d{1,2})(?:st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+((?:19|20)\d{2})(?:,?\s+(\d{1,2})[:.](\d{2})\s*([ap]\.?m\.?)?)?",
    )
    .expect("static regex")
});

/// UTC+8, the zone of dates written on Chinese pages without one.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Parses a date string that is meant to hold a date (a metadata field), in `zone` when it
/// names none.
pub fn parse(s: &str, zone: FixedOffset) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return plausible(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return plausible(d.with_timezone(&Utc));
    }
    if let Some(d) = s.parse::<i64>().ok().filter(|n| *n > 100_000_000) {
        // Unix seconds or milliseconds.
        let secs = if d > 10_000_000_000 { d / 1000 } else { d };
        return plausible(DateTime::from_timestamp(secs, 0)?);
    }
    find(s, zone)
}

/// The first date found anywhere in `text`.
pub fn find(text: &str, zone: FixedOffset) -> Option<DateTime<Utc>> {
    let mut best: Option<(usize, DateTime<Utc>)> = None;
    let mut consider = |at: usize, d: Option<DateTime<Utc>>| {
        if let Some(d) = d.and_then(plausible)
            && best.is_none_or(|(b, _)| at < b)
        {
            best = Some((at, d));
        }
    };
    // The first numeric date that is a real date (`2022-13-45` is skipped, not the end).
    for c in NUMERIC.captures_iter(text) {
        let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        let zone = c.get(7).map_or(Some(zone), |z| offset(z.as_str()));
        let at = c.get(0).map_or(0, |m| m.start());
        let d = zone.and_then(|z| compose(n(1)? as i32, n(2)?, n(3)?, n(4), n(5), n(6), None, z));
        if d.and_then(plausible).is_some() {
            consider(at, d);
            break;
        }
    }
    for (re, month_idx, day_idx) in [(&*MONTH_FIRST, 1, 2), (&*DAY_FIRST, 2, 1)] {
        if let Some(c) = re.captures(text) {
            let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
            let month = c.get(month_idx).map(|m| month_number(m.as_str()));
            let pm = c.get(6).map(|m| m.as_str().to_ascii_lowercase().starts_with('p'));
            let at = c.get(0).map_or(0, |m| m.start());
            consider(at, (|| compose(n(3)? as i32, month?, n(day_idx)?, n(4), n(5), None, pm, zone))());
        }
    }
    best.map(|(_, d)| d)
}

#[allow(clippy::too_many_arguments)]
fn compose(
    year: i32,
    month: u32,
    day: u32,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
    pm: Option<bool>,
    zone: FixedOffset,
) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut hour = hour.unwrap_or(0);
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let time = NaiveTime::from_hms_opt(hour, minute.unwrap_or(0), second.unwrap_or(0))?;
    let local = zone.from_local_datetime(&NaiveDateTime::new(date, time)).single()?;
    Some(local.with_timezone(&Utc))
}

fn offset(z: &str) -> Option<FixedOffset> {
    let z = z.to_ascii_uppercase();
    if matches!(z.as_str(), "Z" | "GMT" | "UTC") {
        return FixedOffset::east_opt(0);
    }
    let sign = if z.starts_with('-') { -1 } else { 1 };
    let digits: String = z.chars().filter(char::is_ascii_digit).collect();
    let h: i32 = digits.get(0..2)?.parse().ok()?;
    let m: i32 = digits.get(2..4)?.parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

fn month_number(name: &str) -> u32 {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let prefix = name.get(..3).unwrap_or(name).to_ascii_lowercase();
    MONTHS.iter().position(|m| *m == prefix).map_or(0, |i| i as u32 + 1)
}

/// Dates before the web or far in the future are misreadings.
fn plausible(d: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let year = d.format("%Y").to_string().parse::<i32>().ok()?;
    (1991..=2100).contains(&year).then_some(d)
}

/// RFC 3339 in UTC with a `Z`, as the contract writes dates.
pub fn format(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> FixedOffset {
        FixedOffset::east_opt(0).unwrap()
    }

    fn p(s: &str, zone: FixedOffset) -> Option<String> {
        parse(s, zone).map(format)
    }

    #[test]
    fn standard_forms_parse() {
        assert_eq!(p("Tue, 02 Aug 2022 06:47:25 GMT", utc()).unwrap(), "2022-08-02T06:47:25Z");
        assert_eq!(p("2022-08-02T14:47:25+08:00", utc()).unwrap(), "2022-08-02T06:47:25Z");
        assert_eq!(p("2022-08-02T14:47:25.000+0800", utc()).unwrap(), "2022-08-02T06:47:25Z");
        assert_eq!(p("2022-08-02 14:47", china()).unwrap(), "2022-08-02T06:47:00Z");
        assert_eq!(p("1659422845", utc()).unwrap(), "2022-08-02T06:47:25Z");
    }

    #[test]
    fn chinese_and_english_text_dates_parse() {
        assert_eq!(p("2022年08月02日 14:47", china()).unwrap(), "2022-08-02T06:47:00Z");
        assert_eq!(p("发布时间：2022年8月2日14:47", china()).unwrap(), "2022-08-02T06:47:00Z");
        assert_eq!(p("Updated August 2, 2022 at 2:47 pm", utc()).unwrap(), "2022-08-02T14:47:00Z");
        assert_eq!(p("2 Aug 2022", utc()).unwrap(), "2022-08-02T00:00:00Z");
    }

    #[test]
    fn nonsense_is_not_a_date() {
        assert_eq!(p("", utc()), None);
        assert_eq!(p("2022-13-45", utc()), None);
        assert_eq!(p("call 1800 555 1234", utc()), None);
    }
}
