//! Six-field NCRONTAB schedules (`{second} {minute} {hour} {day} {month} {day-of-week}`),
//! as the timer trigger reads them. Day and day-of-week must both match (NCrontab).

use time::{Duration, OffsetDateTime, Time};

/// A parsed schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    text: String,
}

/// The expression is not a valid six-field NCRONTAB schedule.
#[derive(Debug, thiserror::Error)]
#[error("invalid NCRONTAB expression '{expression}': {reason}")]
pub struct ScheduleError {
    expression: String,
    reason: String,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses `0 */5 * * * *` and the like.
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        let err = |reason: String| ScheduleError {
            expression: expression.to_owned(),
            reason,
        };
        let fields: Vec<&str> = expression.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(err(format!("expected 6 fields, found {}", fields.len())));
        }
        let field = |i: usize, min: u32, max: u32, names: &[&str]| {
            parse_field(fields[i], min, max, names)
                .map_err(|r| err(format!("field {}: {r}", i + 1)))
        };
        Ok(Self {
            seconds: field(0, 0, 59, &[])?,
            minutes: field(1, 0, 59, &[])?,
            hours: field(2, 0, 23, &[])?,
            days: field(3, 1, 31, &[])?,
            months: field(4, 1, 12, &MONTHS)?,
            // 7 is accepted as Sunday, as in most crontab dialects.
            weekdays: {
                let bits = field(5, 0, 7, &DAYS)?;
                (bits | (bits >> 7)) & 0x7f
            },
            text: expression.to_owned(),
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first occurrence strictly after `after` (whole seconds, UTC).
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut t = after.replace_nanosecond(0).ok()? + Duration::SECOND;
        let limit = after + Duration::days(366 * 5);
        while t <= limit {
            if !bit(self.months, u8::from(t.month()).into()) {
                let first = t.date().replace_day(1).ok()?;
                let next_month = first.checked_add(Duration::days(32))?.replace_day(1).ok()?;
                t = next_month.with_time(Time::MIDNIGHT).assume_utc();
                continue;
            }
            if !bit(self.days, t.day().into())
                || !bit(self.weekdays, t.weekday().number_days_from_sunday().into())
            {
                t = t.date().next_day()?.with_time(Time::MIDNIGHT).assume_utc();
                continue;
            }
            if !bit(self.hours, t.hour().into()) {
                t = t.replace_minute(0).ok()?.replace_second(0).ok()? + Duration::HOUR;
                continue;
            }
            if !bit(self.minutes, t.minute().into()) {
                t = t.replace_second(0).ok()? + Duration::MINUTE;
                continue;
            }
            if !bit(self.seconds, t.second().into()) {
                t += Duration::SECOND;
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn bit(set: u64, n: u32) -> bool {
    set & (1 << n) != 0
}

fn parse_value(s: &str, names: &[&str]) -> Result<u32, String> {
    if let Ok(n) = s.parse() {
        return Ok(n);
    }
    let lower = s.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| if names.len() == 12 { i + 1 } else { i })
        .ok_or_else(|| format!("'{s}' is not a number"))
}

fn parse_field(field: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut set = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step '{s}'"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err("step 0".to_owned());
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (parse_value(a, names)?, parse_value(b, names)?)
        } else {
            let v = parse_value(range, names)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("'{part}' is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_five_minutes_fires_on_the_next_multiple() {
        let s = Schedule::parse("0 */5 * * * *").unwrap();
        assert_eq!(
            s.next_after(datetime!(2025-01-15 10:21:30 UTC)),
            Some(datetime!(2025-01-15 10:25:00 UTC))
        );
        assert_eq!(
            s.next_after(datetime!(2025-01-15 10:25:00 UTC)),
            Some(datetime!(2025-01-15 10:30:00 UTC))
        );
    }

    #[test]
    fn day_of_week_names_and_ranges_work() {
        let s = Schedule::parse("0 30 9 * * Mon-Fri").unwrap();
        // 2025-01-18 is a Saturday.
        assert_eq!(
            s.next_after(datetime!(2025-01-18 12:00:00 UTC)),
            Some(datetime!(2025-01-20 09:30:00 UTC))
        );
        let every_second = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(
            every_second.next_after(datetime!(2025-01-18 12:00:00.5 UTC)),
            Some(datetime!(2025-01-18 12:00:01 UTC))
        );
    }

    #[test]
    fn months_roll_over_years() {
        let s = Schedule::parse("0 0 0 1 Jan *").unwrap();
        assert_eq!(
            s.next_after(datetime!(2025-03-01 00:00:00 UTC)),
            Some(datetime!(2026-01-01 00:00:00 UTC))
        );
    }

    #[test]
    fn five_field_and_out_of_range_expressions_are_refused() {
        assert!(Schedule::parse("*/5 * * * *").is_err());
        assert!(Schedule::parse("60 * * * * *").is_err());
    }
}
