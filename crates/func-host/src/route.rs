//! ASP.NET-style route templates for HTTP triggers: `orders/{id}`, `{id?}`,
//! `{id:guid}`, `{*rest}`; literals compare case-insensitively.

use std::collections::BTreeMap;

/// A template segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param {
        name: String,
        constraints: Vec<String>,
        optional: bool,
        catch_all: bool,
    },
}

/// A parsed route template (prefix included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTemplate {
    segments: Vec<Segment>,
    text: String,
}

/// The template cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid route template '{0}'")]
pub struct RouteError(pub String);

impl RouteTemplate {
    /// Parses `prefix` + `/` + `route` (either may be empty).
    pub fn parse(prefix: &str, route: &str) -> Result<Self, RouteError> {
        let text = [prefix.trim_matches('/'), route.trim_matches('/')]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let mut segments = Vec::new();
        for raw in text.split('/').filter(|s| !s.is_empty()) {
            if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                let (inner, catch_all) = match inner.strip_prefix('*') {
                    Some(rest) => (rest, true),
                    None => (inner, false),
                };
                let (inner, optional) = match inner.strip_suffix('?') {
                    Some(rest) => (rest, true),
                    None => (inner, false),
                };
                let mut parts = inner.split(':');
                let name = parts.next().unwrap_or_default().trim().to_owned();
                if name.is_empty() {
                    return Err(RouteError(text));
                }
                segments.push(Segment::Param {
                    name,
                    constraints: parts.map(|c| c.trim().to_ascii_lowercase()).collect(),
                    optional,
                    catch_all,
                });
            } else if raw.contains('{') || raw.contains('}') {
                // Complex segments (`{a}-{b}`) are beyond this host.
                return Err(RouteError(text));
            } else {
                segments.push(Segment::Literal(raw.to_owned()));
            }
        }
        Ok(Self { segments, text })
    }

    /// The template as `/api/orders/{id}`.
    pub fn display(&self) -> String {
        format!("/{}", self.text)
    }

    /// Route precedence: more literal segments first, then fewer optional/catch-all ones.
    pub fn precedence(&self) -> (usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let loose = self
            .segments
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    Segment::Param { optional: true, .. }
                        | Segment::Param {
                            catch_all: true,
                            ..
                        }
                )
            })
            .count();
        (literals, usize::MAX - loose)
    }

    /// Matches a request path; returns the route values (URL-decoded).
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut values = BTreeMap::new();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(lit) => {
                    if !parts
                        .get(i)
                        .is_some_and(|p| decode(p).eq_ignore_ascii_case(lit))
                    {
                        return None;
                    }
                    i += 1;
                }
                Segment::Param {
                    name,
                    constraints,
                    optional,
                    catch_all,
                } => {
                    if *catch_all {
                        let rest = parts[i.min(parts.len())..]
                            .iter()
                            .map(|p| decode(p))
                            .collect::<Vec<_>>()
                            .join("/");
                        if !rest.is_empty() {
                            values.insert(name.clone(), rest);
                        }
                        i = parts.len();
                        continue;
                    }
                    match parts.get(i) {
                        Some(p) => {
                            let value = decode(p);
                            if !constraints.iter().all(|c| satisfies(c, &value)) {
                                return None;
                            }
                            values.insert(name.clone(), value);
                            i += 1;
                        }
                        None if *optional => {}
                        None => return None,
                    }
                }
            }
        }
        (i == parts.len()).then_some(values)
    }
}

fn decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_owned())
}

/// Inline constraints. Unknown ones (e.g. `regex(...)`) accept any value.
fn satisfies(constraint: &str, value: &str) -> bool {
    let arg = |name: &str| {
        constraint
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    match constraint {
        "int" => value.parse::<i32>().is_ok(),
        "long" => value.parse::<i64>().is_ok(),
        "bool" => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        "guid" => uuid::Uuid::parse_str(value.trim_matches(|c| c == '{' || c == '}')).is_ok(),
        "alpha" => !value.is_empty() && value.chars().all(|c| c.is_ascii_alphabetic()),
        "double" | "float" | "decimal" => value.parse::<f64>().is_ok(),
        "datetime" => !value.is_empty(),
        _ => {
            let count = value.chars().count();
            let num = |s: &str| s.trim().parse::<i64>().ok();
            if let Some(n) = arg("minlength").and_then(num) {
                return i64::try_from(count).is_ok_and(|c| c >= n);
            }
            if let Some(n) = arg("maxlength").and_then(num) {
                return i64::try_from(count).is_ok_and(|c| c <= n);
            }
            if let Some(n) = arg("length").and_then(num) {
                return i64::try_from(count).is_ok_and(|c| c == n);
            }
            if let Some(n) = arg("min").and_then(num) {
                return value.parse::<i64>().is_ok_and(|v| v >= n);
            }
            if let Some(n) = arg("max").and_then(num) {
                return value.parse::<i64>().is_ok_and(|v| v <= n);
            }
            if let Some((a, b)) = arg("range").and_then(|r| r.split_once(',')) {
                return match (num(a), num(b), value.parse::<i64>().ok()) {
                    (Some(a), Some(b), Some(v)) => (a..=b).contains(&v),
                    _ => false,
                };
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_optional_segments_and_constraints_match() {
        let t = RouteTemplate::parse("api", "share-requests/{id}").unwrap();
        assert_eq!(t.matches("/api/share-requests/7").unwrap()["id"], "7");
        assert_eq!(t.matches("/API/Share-Requests/7").unwrap()["id"], "7");
        assert!(t.matches("/api/share-requests").is_none());
        assert!(t.matches("/api/share-requests/7/x").is_none());

        let o = RouteTemplate::parse("api", "items/{id?}").unwrap();
        assert!(o.matches("/api/items").unwrap().is_empty());
        assert_eq!(o.matches("/api/items/3").unwrap()["id"], "3");

        let g = RouteTemplate::parse("api", "r/{id:guid}").unwrap();
        assert!(
            g.matches("/api/r/5e0c6a2e-64b8-4a4b-9f1e-3f2d8e1b9c10")
                .is_some()
        );
        assert!(g.matches("/api/r/not-a-guid").is_none());
        let i = RouteTemplate::parse("", "n/{n:int:min(3)}").unwrap();
        assert!(i.matches("/n/4").is_some());
        assert!(i.matches("/n/2").is_none());
    }

    #[test]
    fn catch_all_takes_the_rest_and_values_are_decoded() {
        let t = RouteTemplate::parse("api", "files/{*path}").unwrap();
        assert_eq!(t.matches("/api/files/a/b%20c").unwrap()["path"], "a/b c");
    }
}
