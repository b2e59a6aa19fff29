//! The small `$filter` subset the product, the recordings and the Azure CLI use:
//! `prop eq 'v'`, `startswith(prop,'v')` and the OData lambda `coll/any(x:x eq 'v')` over a
//! collection of strings (Graph's "Use the $filter query parameter": `any` on
//! `servicePrincipalNames`, `identifierUris`, ...), joined by `and`.

use serde_json::Value;

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    /// `coll/any(x:x eq 'v')`
    AnyEq(String, String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(Vec<Condition>);

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

impl Filter {
    /// Parses a `$filter` value; `None` when it uses anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut conditions = Vec::new();
        for part in text.split(" and ") {
            let part = part.trim();
            if let Some(args) = part
                .strip_prefix("startswith(")
                .and_then(|p| p.strip_suffix(')'))
            {
                let (prop, value) = args.split_once(',')?;
                conditions.push(Condition::StartsWith(
                    prop.trim().to_owned(),
                    unquote(value)?,
                ));
            } else if let Some((coll, lambda)) = part
                .split_once("/any(")
                .and_then(|(c, rest)| Some((c, rest.strip_suffix(')')?)))
            {
                // `x:x eq 'v'`: the range variable must be what is compared.
                let (var, body) = lambda.split_once(':')?;
                let (lhs, value) = body.split_once(" eq ")?;
                if lhs.trim() != var.trim() {
                    return None;
                }
                conditions.push(Condition::AnyEq(coll.trim().to_owned(), unquote(value)?));
            } else if let Some((prop, value)) = part.split_once(" eq ") {
                conditions.push(Condition::Eq(prop.trim().to_owned(), unquote(value)?));
            } else {
                return None;
            }
        }
        Some(Self(conditions))
    }

    /// True when the object satisfies every condition (string comparisons ignore case, as Graph's do).
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|c| match c {
            Condition::Eq(p, v) => object
                .get(p)
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(v)),
            Condition::StartsWith(p, v) => object
                .get(p)
                .and_then(Value::as_str)
                .is_some_and(|s| s.to_ascii_lowercase().starts_with(&v.to_ascii_lowercase())),
            Condition::AnyEq(p, v) => {
                object
                    .get(p)
                    .and_then(Value::as_array)
                    .is_some_and(|items| {
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .any(|s| s.eq_ignore_ascii_case(v))
                    })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eq_and_startswith_filters_match_as_graph_does() {
        let f = Filter::parse("startswith(displayName,'cli_sp')").unwrap();
        assert!(f.matches(&json!({"displayName": "CLI_SP_x"})));
        let g = Filter::parse("displayName eq 'a''b' and appId eq 'x'").unwrap();
        assert!(g.matches(&json!({"displayName": "a'b", "appId": "x"})));
        assert!(!g.matches(&json!({"displayName": "a'b", "appId": "y"})));
        assert!(Filter::parse("displayName ne 'x'").is_none());
        let any = Filter::parse("servicePrincipalNames/any(c:c eq 'A1')").unwrap();
        assert!(any.matches(&json!({"servicePrincipalNames": ["x", "a1"]})));
        assert!(!any.matches(&json!({"servicePrincipalNames": ["x"]})));
        assert!(Filter::parse("servicePrincipalNames/any(c:d eq 'a')").is_none());
    }
}
