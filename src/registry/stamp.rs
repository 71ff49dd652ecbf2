//! Timestamps as registries write them, reduced to the calendar dates the checks compare.
//!
//! RDAP uses RFC 3339 (`1997-09-15T04:00:00Z`); WHOIS servers add their own layouts
//! (`2003-03-17 12:20:05` from CNNIC, `15-sep-1997` from older registrars). A timestamp with a
//! zone becomes its UTC date; one without a zone keeps the date as written, which for CNNIC is
//! Beijing time, the calendar the filings use.

use crate::date::Date;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Reads a registry timestamp, or `None` when it is in no layout we know.
pub fn registry_date(text: &str) -> Option<Date> {
    let text = text.trim();
    if let Some(date) = day_month_year(text) {
        return Some(date);
    }

    let date = ymd(text.get(..10)?)?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(date);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (time, offset) = split_zone(rest)?;

    let seconds = date.days() * 86_400 + seconds_of_day(time)? - offset;
    Some(Date::from_days(seconds.div_euclid(86_400)))
}

/// Exactly `YYYY-MM-DD`.
fn ymd(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let digits_at = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    let shaped = bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-';
    if !shaped || !digits_at(0..4) || !digits_at(5..7) || !digits_at(8..10) {
        return None;
    }
    text.parse().ok()
}

/// `15-sep-1997` or `15-Sep-1997`, as some older WHOIS servers write dates.
fn day_month_year(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if day.len() > 2 || month.len() != 3 || year.len() != 4 {
        return None;
    }

    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))?;
    let day = day.parse().ok()?;
    let year = year.parse().ok()?;
    Date::new(year, month as u8 + 1, day)
}

/// Splits `04:00:00Z`, `12:00:00+08:00` or `12:20:05` into the time and the zone's offset in
/// seconds east of UTC (0 when there is no zone).
fn split_zone(text: &str) -> Option<(&str, i64)> {
    let text = text.trim_end();
    for suffix in ["Z", "z", " UTC", " GMT"] {
        if let Some(time) = text.strip_suffix(suffix) {
            return Some((time, 0));
        }
    }

    let Some(at) = text.rfind(['+', '-']) else {
        return Some((text, 0));
    };
    let sign = if text.as_bytes()[at] == b'-' { -1 } else { 1 };
    let zone = text[at + 1..].replace(':', "");
    if zone.len() != 4 || !zone.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }

    let hours: i64 = zone[..2].parse().ok()?;
    let minutes: i64 = zone[2..].parse().ok()?;
    (hours < 24 && minutes < 60).then_some((&text[..at], sign * (hours * 3600 + minutes * 60)))
}

/// `hh:mm`, `hh:mm:ss` or `hh:mm:ss.fraction` as seconds since midnight.
fn seconds_of_day(text: &str) -> Option<i64> {
    let whole = text.split_once('.').map_or(text, |(whole, fraction)| {
        if fraction.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            "bad"
        }
    });

    let fields: Vec<&str> = whole.split(':').collect();
    if !(2..=3).contains(&fields.len()) || fields.iter().any(|f| f.len() != 2) {
        return None;
    }
    let number = |i: usize| -> Option<i64> {
        let f = fields.get(i).copied().unwrap_or("00");
        f.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| f.parse().ok())?
    };

    let (h, m, s) = (number(0)?, number(1)?, number(2)?);
    (h < 24 && m < 60 && s <= 60).then_some(h * 3600 + m * 60 + s)
}

/// Serde for `Option<Date>` as `"YYYY-MM-DD"` or null, for reports and the cache.
pub(super) mod serde_date {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::date::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => s.collect_str(date),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Option<String> {
        registry_date(text).map(|d| d.to_string())
    }

    #[test]
    fn reads_rfc_3339_as_the_utc_date() {
        assert_eq!(day("1997-09-15T04:00:00Z").as_deref(), Some("1997-09-15"));
        assert_eq!(day("2028-09-14T04:00:00.0Z").as_deref(), Some("2028-09-14"));
        assert_eq!(
            day("2020-01-02T03:00:00+08:00").as_deref(),
            Some("2020-01-01")
        );
        assert_eq!(
            day("2020-01-01T20:00:00-05:00").as_deref(),
            Some("2020-01-02")
        );
        assert_eq!(
            day("2020-01-01t20:00:00-0500").as_deref(),
            Some("2020-01-02")
        );
    }

    #[test]
    fn reads_whois_layouts() {
        assert_eq!(day("2003-03-17 12:20:05").as_deref(), Some("2003-03-17"));
        assert_eq!(day(" 2030-03-17 ").as_deref(), Some("2030-03-17"));
        assert_eq!(
            day("2030-03-17 12:48:36 UTC").as_deref(),
            Some("2030-03-17")
        );
        assert_eq!(day("15-sep-1997").as_deref(), Some("1997-09-15"));
        assert_eq!(day("5-Mar-2031").as_deref(), Some("2031-03-05"));
    }

    #[test]
    fn near_misses_are_not_dates() {
        for text in [
            "",
            "2030/03/17",
            "2030-3-17",
            "2030-02-30",
            "2030-03-17X12:00:00",
            "2030-03-17T25:00:00Z",
            "2030-03-17T12:00:00+8",
            "2030-03-17T12:00:00.abcZ",
            "2030-03-17T12Z",
            "17-sept-2030",
            "31-feb-2030",
            "before 2030",
            "２０３０-０３-１７",
        ] {
            assert_eq!(day(text), None, "{text:?}");
        }
    }
}
