//! JSON as Json.NET writes it, because the host is a .NET program and its encodings are
//! what handlers see: string escaping, `JsonConvert.SerializeObject` of scalars,
//! `(string)JValue` conversions and DateTime/DateTimeOffset text.

use serde_json::{Map, Value};
use time::{
    OffsetDateTime, PrimitiveDateTime, UtcOffset, format_description::BorrowedFormatItem,
    macros::format_description,
};

/// Writes `value` compactly with Json.NET's default string escaping.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// Writes an object given as ordered pairs (Metadata keeps the host's insertion order).
pub fn write_ordered_object(pairs: &[(String, Value)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => write_map(map, out),
    }
}

fn write_map(map: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

/// Json.NET `StringEscapeHandling.Default`: quotes, backslash, control characters and
/// U+0085/U+2028/U+2029 are escaped; everything else, including non-ASCII, is written as is.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `JsonConvert.SerializeObject(string)`: the JSON literal of a string, as text.
pub fn serialize_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(s, &mut out);
    out
}

/// Indented JSON as `JToken.ToString()` writes it (two spaces, `": "`, and
/// `Environment.NewLine`, which is `\n` on the Linux hosts Flex Consumption runs), used for
/// object outputs sent as message bodies.
pub fn to_indented(value: &Value) -> String {
    let mut out = String::new();
    write_indented(value, 0, &mut out);
    out
}

fn write_indented(value: &Value, depth: usize, out: &mut String) {
    let pad = |d: usize, out: &mut String| {
        out.push('\n');
        out.push_str(&"  ".repeat(d));
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(depth + 1, out);
                write_indented(item, depth + 1, out);
            }
            pad(depth, out);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(depth + 1, out);
                write_string(k, out);
                out.push_str(": ");
                write_indented(v, depth + 1, out);
            }
            pad(depth, out);
            out.push('}');
        }
        other => write_value(other, out),
    }
}

const ISO_SECONDS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
const INVARIANT_GENERAL: &[BorrowedFormatItem<'static>] =
    format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");

/// Seven fractional digits with trailing zeros trimmed (Json.NET's `.FFFFFFF`).
fn fraction(t: OffsetDateTime) -> String {
    let ticks = t.nanosecond() / 100;
    if ticks == 0 {
        return String::new();
    }
    let digits = format!("{ticks:07}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// A DateTimeOffset as Json.NET writes it: `2025-01-15T10:20:30.123+00:00`.
pub fn date_time_offset(t: OffsetDateTime) -> String {
    let base = t.format(ISO_SECONDS).unwrap_or_default();
    let offset = t.offset();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{base}{}{sign}{:02}:{:02}",
        fraction(t),
        offset.whole_hours().unsigned_abs(),
        offset.minutes_past_hour().unsigned_abs()
    )
}

/// A UTC DateTime as Json.NET writes it (`Kind = Utc`): `2025-01-15T10:20:30.123Z`.
pub fn date_time_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}{}Z",
        t.format(ISO_SECONDS).unwrap_or_default(),
        fraction(t)
    )
}

/// The host's DateTime path (`DateTime.Parse(value.ToString())`): whole seconds, no
/// offset, e.g. `2025-01-15T10:20:30`.
pub fn date_time_reparsed(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(ISO_SECONDS).unwrap_or_default()
}

/// `Convert.ToString(value, InvariantCulture)` of a JValue, i.e. `(string)JToken`, for
/// the scalars of a JSON body that the body-merge quirk copies into Metadata. `None`
/// for JSON null (the host skips null values).
pub fn jvalue_to_string(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        Value::Number(n) => Some(number_to_string(n)),
        // JObject.Parse turns ISO-8601 strings into DateTime (DateParseHandling.DateTime),
        // and the invariant culture prints those as MM/dd/yyyy HH:mm:ss.
        Value::String(s) => Some(json_net_date(s).unwrap_or_else(|| s.clone())),
    }
}

fn number_to_string(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    // .NET Core's shortest round-trip double formatting: integral values have no ".0",
    // and exponents of 15 and more switch to E notation.
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{f:.0}");
    }
    let magnitude = f.abs();
    if magnitude >= 1e15 || (magnitude != 0.0 && magnitude < 1e-5) {
        let s = format!("{f:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) => {
                let exp: i32 = exp.parse().unwrap_or(0);
                let sign = if exp < 0 { '-' } else { '+' };
                format!("{mantissa}E{sign}{:02}", exp.unsigned_abs())
            }
            None => s,
        };
    }
    format!("{f}")
}

/// Json.NET's ISO date recognition on string tokens (`DateTimeUtils.TryParseDateTimeIso`),
/// printed the way `(string)` prints the resulting DateTime (invariant culture).
/// Strings with an offset become local time; Azure hosts run in UTC, so we print UTC.
fn json_net_date(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let (clock, zone) = split_zone(&s[11..])?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    if hms.len() != 8 || frac.len() > 7 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!("{}T{hms}", &s[..10]);
    let local = PrimitiveDateTime::parse(&text, ISO_SECONDS).ok()?;
    let at = match zone {
        Zone::None | Zone::Utc => local.assume_utc(),
        Zone::Offset(minutes) => {
            let offset = UtcOffset::from_whole_seconds(minutes * 60).ok()?;
            local.assume_offset(offset).to_offset(UtcOffset::UTC)
        }
    };
    at.format(INVARIANT_GENERAL).ok()
}

enum Zone {
    None,
    Utc,
    Offset(i32),
}

fn split_zone(rest: &str) -> Option<(&str, Zone)> {
    if let Some(clock) = rest.strip_suffix('Z') {
        return Some((clock, Zone::Utc));
    }
    if rest.len() > 6 {
        let (clock, zone) = rest.split_at(rest.len() - 6);
        let zb = zone.as_bytes();
        if (zb[0] == b'+' || zb[0] == b'-') && zb[3] == b':' {
            let hours: i32 = zone[1..3].parse().ok()?;
            let minutes: i32 = zone[4..6].parse().ok()?;
            let total = hours * 60 + minutes;
            return Some((
                clock,
                Zone::Offset(if zb[0] == b'-' { -total } else { total }),
            ));
        }
    }
    Some((rest, Zone::None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn strings_are_escaped_like_json_net() {
        assert_eq!(
            serialize_string("a\"b\\c\n\u{1}é\u{2028}"),
            "\"a\\\"b\\\\c\\n\\u0001é\\u2028\""
        );
        assert_eq!(serialize_string("stringTest"), "\"stringTest\"");
    }

    #[test]
    fn jvalue_conversions_follow_the_invariant_culture() {
        assert_eq!(jvalue_to_string(&json!(42)).unwrap(), "42");
        assert_eq!(jvalue_to_string(&json!(true)).unwrap(), "True");
        assert_eq!(jvalue_to_string(&json!(1.0)).unwrap(), "1");
        assert_eq!(jvalue_to_string(&json!(2.5)).unwrap(), "2.5");
        assert_eq!(jvalue_to_string(&json!(1e20)).unwrap(), "1E+20");
        assert_eq!(jvalue_to_string(&json!(null)), None);
        assert_eq!(
            jvalue_to_string(&json!("2025-01-15T10:20:30Z")).unwrap(),
            "01/15/2025 10:20:30"
        );
        assert_eq!(
            jvalue_to_string(&json!("2025-01-15T10:20:30.5+02:00")).unwrap(),
            "01/15/2025 08:20:30"
        );
        assert_eq!(
            jvalue_to_string(&json!("2025-01-15")).unwrap(),
            "2025-01-15"
        );
    }

    #[test]
    fn dates_print_like_json_net() {
        let t = datetime!(2025-01-15 10:20:30.1230 UTC);
        assert_eq!(date_time_offset(t), "2025-01-15T10:20:30.123+00:00");
        assert_eq!(date_time_utc(t), "2025-01-15T10:20:30.123Z");
        assert_eq!(date_time_reparsed(t), "2025-01-15T10:20:30");
    }

    #[test]
    fn indented_output_matches_jtoken_to_string() {
        assert_eq!(
            to_indented(&json!({"a":1,"b":[1,2]})),
            "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}"
        );
        assert_eq!(to_indented(&json!({})), "{}");
    }
}
