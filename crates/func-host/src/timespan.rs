//! .NET `TimeSpan` strings as host.json writes them (`00:05:00`, `1.02:03:04.5`, `-1`).

use std::time::Duration;

/// A parsed TimeSpan: negative values mean "unbounded" for the settings that allow it
/// (`functionTimeout: "-1"`, `maxAutoLockRenewalDuration: "-00:00:00.0010000"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpan {
    /// A non-negative duration.
    Finite(Duration),
    /// A negative TimeSpan.
    Negative,
}

impl TimeSpan {
    /// The duration, or `None` when the value was negative (unbounded).
    pub fn bounded(self) -> Option<Duration> {
        match self {
            Self::Finite(d) => Some(d),
            Self::Negative => None,
        }
    }
}

/// Parses the invariant `TimeSpan.Parse` forms: `d`, `[-][d.]hh:mm[:ss[.fffffff]]`.
pub fn parse(input: &str) -> Option<TimeSpan> {
    let s = input.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let total = if s.contains(':') {
        parse_clock(s)?
    } else {
        // A bare integer is a number of days, as in .NET.
        let days: u64 = s.parse().ok()?;
        Duration::from_secs(days.checked_mul(86_400)?)
    };
    if negative && !total.is_zero() {
        Some(TimeSpan::Negative)
    } else {
        Some(TimeSpan::Finite(total))
    }
}

fn parse_clock(s: &str) -> Option<Duration> {
    let (days, clock) = match s.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (d, rest) = s.split_once('.')?;
            (d.parse::<u64>().ok()?, rest)
        }
        _ => (0, s),
    };
    let mut parts = clock.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let (seconds, nanos) = match parts.next() {
        Some(sec) => parse_seconds(sec)?,
        None => (0, 0),
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let secs = days * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    Some(Duration::new(secs, nanos))
}

fn parse_seconds(s: &str) -> Option<(u64, u32)> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let seconds = whole.parse().ok()?;
    if fraction.is_empty() {
        return Some((seconds, 0));
    }
    if fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<9}");
    Some((seconds, padded.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_forms_parse_like_dotnet() {
        assert_eq!(
            parse("00:05:00"),
            Some(TimeSpan::Finite(Duration::from_secs(300)))
        );
        assert_eq!(
            parse("1.02:03:04.5"),
            Some(TimeSpan::Finite(Duration::new(93_784, 500_000_000)))
        );
        assert_eq!(
            parse("00:30"),
            Some(TimeSpan::Finite(Duration::from_secs(1_800)))
        );
        assert_eq!(
            parse("2"),
            Some(TimeSpan::Finite(Duration::from_secs(172_800)))
        );
    }

    #[test]
    fn negative_values_mean_unbounded() {
        assert_eq!(parse("-1"), Some(TimeSpan::Negative));
        assert_eq!(parse("-00:00:00.0010000"), Some(TimeSpan::Negative));
        assert_eq!(parse("-1").and_then(TimeSpan::bounded), None);
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        assert_eq!(parse("00:61:00"), None);
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("00:00:00.12345678"), None);
    }
}
