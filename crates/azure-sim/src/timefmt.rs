//! Date, time and duration encodings the Azure services use on the wire.

use time::{
    Duration, OffsetDateTime, UtcOffset,
    format_description::{
        BorrowedFormatItem,
        well_known::{Rfc2822, Rfc3339},
    },
    macros::format_description,
};

const RFC1123: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// `Thu, 25 Apr 2019 06:37:16 GMT` (Service Bus BrokerProperties, HTTP `Date`).
pub fn rfc1123(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(RFC1123)
        .unwrap_or_default()
}

/// Parses RFC 1123 (`... GMT`) or RFC 2822 (`... +0000`) dates, as Service Bus accepts both.
pub fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc2822) {
        return Some(t);
    }
    let stripped = s.strip_suffix("GMT").or_else(|| s.strip_suffix("UTC"))?;
    OffsetDateTime::parse(&format!("{stripped}+0000"), &Rfc2822).ok()
}

/// `2022-05-07T06:56:45.8939424Z`: Graph's 7-digit create precision.
pub fn graph_precise(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}.{:07}Z",
        graph_seconds(t).trim_end_matches('Z'),
        t.nanosecond() / 100
    )
}

/// `2022-05-07T06:56:45Z`: Graph's read-back precision.
pub fn graph_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2025-02-20T10:52:24`: the `innerError.date` form (no zone designator).
pub fn graph_inner_date(t: OffsetDateTime) -> String {
    graph_seconds(t).trim_end_matches('Z').to_owned()
}

/// `2019-11-28 12:34:56Z`: Entra's error `timestamp` form.
pub fn entra_timestamp(t: OffsetDateTime) -> String {
    graph_seconds(t).replace('T', " ")
}

/// Parses an ISO 8601 / RFC 3339 date-time as Graph accepts it.
pub fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Parses an ISO 8601 duration such as `PT30S`, `PT10M`, `P1DT2H` or `P10675199DT2H48M5.4775807S`.
pub fn parse_iso_duration(s: &str) -> Option<Duration> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0.0_f64;
    let mut any = false;
    for (part, units) in [
        (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let scale = units.iter().find(|(u, _)| *u == c)?.1;
            total += number.parse::<f64>().ok()? * scale;
            number.clear();
            any = true;
        }
        if !number.is_empty() {
            return None;
        }
    }
    any.then(|| Duration::seconds_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rfc1123_matches_the_broker_properties_form() {
        assert_eq!(
            rfc1123(datetime!(2019-04-25 06:37:16 UTC)),
            "Thu, 25 Apr 2019 06:37:16 GMT"
        );
    }

    #[test]
    fn both_rfc1123_and_rfc2822_dates_parse() {
        let a = parse_http_date("Thu, 25 Apr 2019 06:37:16 GMT").unwrap();
        let b = parse_http_date("Thu, 25 Apr 2019 06:37:16 +0000").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn graph_precise_has_seven_fraction_digits() {
        let t = datetime!(2022-05-07 06:56:45.8939424 UTC);
        assert_eq!(graph_precise(t), "2022-05-07T06:56:45.8939424Z");
        assert_eq!(graph_seconds(t), "2022-05-07T06:56:45Z");
    }

    #[test]
    fn iso_durations_parse() {
        assert_eq!(parse_iso_duration("PT30S"), Some(Duration::seconds(30)));
        assert_eq!(parse_iso_duration("PT10M"), Some(Duration::minutes(10)));
        assert_eq!(parse_iso_duration("P1DT1H"), Some(Duration::hours(25)));
        assert_eq!(parse_iso_duration("30S"), None);
        assert_eq!(parse_iso_duration("PT"), None);
    }
}
