//! Calendar dates for expiry checks and `--as-of`, without a time-zone library.
//!
//! Filing records carry plain `YYYY-MM-DD` dates; "today" is the date in China (UTC+8), since
//! that is the calendar the filings and the provider's deadlines use.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// Why a text is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("expected YYYY-MM-DD, got {0:?}")]
    Format(String),
    #[error("{0:?} is not a day of the calendar")]
    NoSuchDay(String),
}

impl Date {
    /// Builds a date, or `None` when the day does not exist (2023-02-29).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// Today's date in China (UTC+8).
    pub fn today_in_china() -> Date {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Date::from_days((secs + 8 * 3600).div_euclid(86_400))
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days() - self.days()
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Parses `YYYY-MM-DD`; `/` and `.` are accepted as separators, as records often use them.
    fn from_str(text: &str) -> Result<Date, DateError> {
        let trimmed = text.trim();
        let parts: Vec<&str> = trimmed.split(['-', '/', '.']).collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(DateError::Format(text.to_string()));
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if y.len() != 4 || !all_digits(y) || !all_digits(m) || !all_digits(d) || m.len() > 2 {
            return Err(DateError::Format(text.to_string()));
        }
        if d.len() > 2 {
            return Err(DateError::Format(text.to_string()));
        }

        let (year, month, day) = (
            y.parse().unwrap_or(0),
            m.parse().unwrap_or(0),
            d.parse().unwrap_or(0),
        );
        Date::new(year, month, day).ok_or_else(|| DateError::NoSuchDay(text.to_string()))
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The current time as an RFC 3339 UTC timestamp, for evidence ("probed at").
pub fn now_rfc3339() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let date = Date::from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_across_leap_years_and_eras() {
        for days in [-800_000, -1, 0, 1, 10_957, 11_016, 20_000, 2_932_896] {
            assert_eq!(Date::from_days(days).days(), days);
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(11_016).to_string(), "2000-02-29");
    }

    #[test]
    fn parses_dates_and_rejects_impossible_days() {
        assert_eq!(
            "2026-12-03".parse::<Date>().unwrap().to_string(),
            "2026-12-03"
        );
        assert_eq!(
            "2026/1/5".parse::<Date>().unwrap().to_string(),
            "2026-01-05"
        );
        assert!(matches!(
            "2023-02-29".parse::<Date>(),
            Err(DateError::NoSuchDay(_))
        ));
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!(matches!("长期".parse::<Date>(), Err(DateError::Format(_))));
        assert!(matches!(
            "2026-13-01".parse::<Date>(),
            Err(DateError::NoSuchDay(_))
        ));
        assert!(matches!(
            "26-01-01".parse::<Date>(),
            Err(DateError::Format(_))
        ));
    }

    #[test]
    fn days_until_counts_whole_days() {
        let a: Date = "2026-12-03".parse().unwrap();
        let b: Date = "2027-01-02".parse().unwrap();
        assert_eq!(a.days_until(b), 30);
        assert_eq!(b.days_until(a), -30);
    }
}
