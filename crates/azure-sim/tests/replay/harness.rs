//! The replay machinery: loading vcrpy YAML and test-proxy JSON recordings, learning ids,
//! and comparing answers with recorded ones.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::transport;
use azure_sim::Sim;

/// One recorded exchange, whatever the recording format.
#[derive(Debug, Clone)]
pub struct Interaction {
    pub method: String,
    pub uri: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: String,
}

impl Interaction {
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recordings")
        .join(file)
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn header_list(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .flat_map(|(k, v)| match v {
            Value::Array(values) => values
                .iter()
                .filter_map(|x| text_of(x).map(|t| (k.clone(), t)))
                .collect::<Vec<_>>(),
            other => text_of(other)
                .map(|t| vec![(k.clone(), t)])
                .unwrap_or_default(),
        })
        .collect()
}

/// vcrpy YAML (azure-cli, legacy Python SDK).
pub fn load_yaml(file: &str) -> Vec<Interaction> {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap();
    let doc = serde_json::to_value(yaml).unwrap();
    doc["interactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Interaction {
            method: i["request"]["method"].as_str().unwrap().to_owned(),
            uri: i["request"]["uri"].as_str().unwrap().to_owned(),
            request_headers: header_list(&i["request"]["headers"]),
            request_body: text_of(&i["request"]["body"]),
            status: u16::try_from(i["response"]["status"]["code"].as_u64().unwrap()).unwrap(),
            response_headers: header_list(&i["response"]["headers"]),
            response_body: text_of(&i["response"]["body"]["string"]).unwrap_or_default(),
        })
        .collect()
}

/// Azure SDK test-proxy JSON.
pub fn load_json(file: &str) -> Vec<Interaction> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path(file)).unwrap()).unwrap();
    doc["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| Interaction {
            method: e["RequestMethod"].as_str().unwrap().to_owned(),
            uri: e["RequestUri"].as_str().unwrap().to_owned(),
            request_headers: header_list(&e["RequestHeaders"]),
            request_body: text_of(&e["RequestBody"]),
            status: u16::try_from(e["StatusCode"].as_u64().unwrap()).unwrap(),
            response_headers: header_list(&e["ResponseHeaders"]),
            response_body: text_of(&e["ResponseBody"]).unwrap_or_default(),
        })
        .collect()
}

/// GUIDs (with or without dashes) in the order they appear.
pub fn guids(s: &str) -> Vec<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let take = |len: usize, dashed: bool| -> bool {
            if i + len > bytes.len() || (i > 0 && bytes[i - 1].is_ascii_hexdigit()) {
                return false;
            }
            if i + len < bytes.len() && bytes[i + len].is_ascii_hexdigit() {
                return false;
            }
            bytes[i..i + len].iter().enumerate().all(|(j, b)| {
                if dashed && matches!(j, 8 | 13 | 18 | 23) {
                    *b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            })
        };
        if take(36, true) {
            out.push(s[i..i + 36].to_owned());
            i += 36;
        } else if take(32, false) {
            out.push(s[i..i + 32].to_owned());
            i += 32;
        } else {
            i += 1;
        }
    }
    out
}

pub fn normalize_guids(s: &str) -> String {
    guids(s)
        .iter()
        .fold(s.to_owned(), |acc, g| acc.replace(g, "{guid}"))
}

/// Recorded id -> simulator id, learned from answers.
#[derive(Default)]
pub struct Ids(Vec<(String, String)>);

impl Ids {
    pub fn learn_str(&mut self, recorded: &str, actual: &str) {
        let (r, a) = (guids(recorded), guids(actual));
        if r.len() == a.len() {
            for (r, a) in r.into_iter().zip(a) {
                if r != a && !self.0.iter().any(|(x, _)| *x == r) {
                    self.0.push((r, a));
                }
            }
        }
    }
    fn learn(&mut self, recorded: &Value, actual: &Value) {
        match (recorded, actual) {
            (Value::Object(r), Value::Object(a)) => {
                for (k, rv) in r {
                    if let Some(av) = a.get(k) {
                        self.learn(rv, av);
                    }
                }
            }
            (Value::Array(r), Value::Array(a)) => {
                for (rv, av) in r.iter().zip(a) {
                    self.learn(rv, av);
                }
            }
            (Value::String(r), Value::String(a)) => self.learn_str(r, a),
            _ => {}
        }
    }
    /// Maps a whole recorded string (an opaque operation URL, a sanitized name) to the simulator's.
    pub fn learn_exact(&mut self, recorded: &str, actual: &str) {
        if recorded != actual && !self.0.iter().any(|(x, _)| x == recorded) {
            // Longer strings first, so a URL is replaced before the ids inside it.
            self.0.insert(0, (recorded.to_owned(), actual.to_owned()));
        }
    }
    pub fn apply(&self, s: &str) -> String {
        self.0
            .iter()
            .fold(s.to_owned(), |acc, (r, a)| acc.replace(r, a))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in keys and value types, recursively (arrays: their first elements).
pub fn shape_diff(
    at: &str,
    recorded: &Value,
    actual: &Value,
    allowed_extra: &[&str],
    out: &mut Vec<String>,
) {
    if kind(recorded) != kind(actual) {
        out.push(format!(
            "{at}: recorded {} but got {} ({actual})",
            kind(recorded),
            kind(actual)
        ));
        return;
    }
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            for (k, rv) in r {
                match a.get(k) {
                    Some(av) => shape_diff(&format!("{at}.{k}"), rv, av, allowed_extra, out),
                    None => out.push(format!("{at}.{k}: missing")),
                }
            }
            for k in a.keys() {
                if !r.contains_key(k) && !allowed_extra.contains(&k.as_str()) {
                    out.push(format!("{at}.{k}: not in the recording"));
                }
            }
        }
        (Value::Array(r), Value::Array(a)) => match (r.first(), a.first()) {
            (Some(rf), Some(af)) => shape_diff(&format!("{at}[0]"), rf, af, allowed_extra, out),
            (Some(_), None) => out.push(format!("{at}: empty, recorded non-empty")),
            _ => {}
        },
        _ => {}
    }
}

/// How to replay one recording.
pub struct Replay<'a> {
    pub sim: &'a Sim,
    /// `Authorization` to send for an interaction whose recorded request carried one.
    pub authorization: Box<dyn Fn(&Interaction, &str) -> Option<String> + 'a>,
    /// Interactions to skip, with the reason.
    pub skip: Box<dyn Fn(&Interaction) -> Option<&'static str> + 'a>,
    /// Keys the simulator may add that postdate the recording.
    pub allowed_extra: &'a [&'a str],
    /// Response headers whose recorded value must be reproduced (GUIDs aside).
    pub exact_headers: &'a [&'a str],
    /// Response headers that must be present when recorded.
    pub present_headers: &'a [&'a str],
    /// Response headers holding URLs to poll, learned whole (opaque operation ids).
    pub url_headers: &'a [&'a str],
    /// Body paths (`tags`, `properties.x`) not compared, each with its reason in the test.
    pub ignored: &'a [&'a str],
}

const DROP_REQUEST_HEADERS: [&str; 6] = [
    "authorization",
    "content-length",
    "connection",
    "accept-encoding",
    "host",
    "transfer-encoding",
];

impl Replay<'_> {
    pub async fn run(&self, interactions: &[Interaction]) -> (usize, Vec<String>) {
        self.run_with(&mut Ids::default(), interactions).await
    }

    /// Replays with ids already learned (or to be learned by the caller between runs).
    pub async fn run_with(
        &self,
        ids: &mut Ids,
        interactions: &[Interaction],
    ) -> (usize, Vec<String>) {
        let t = transport(self.sim);
        let mut diffs = Vec::new();
        let mut replayed = 0;
        for (n, i) in interactions.iter().enumerate() {
            if let Some(reason) = (self.skip)(i) {
                eprintln!("interaction {n} ({} {}) skipped: {reason}", i.method, i.uri);
                continue;
            }
            replayed += 1;
            let uri = ids.apply(&i.uri);
            let mut b = t.client().request(
                reqwest::Method::from_bytes(i.method.as_bytes()).unwrap(),
                &uri,
            );
            for (k, v) in &i.request_headers {
                if !DROP_REQUEST_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    b = b.header(k.as_str(), v.as_str());
                }
            }
            if i.request_header("authorization").is_some()
                && let Some(auth) = (self.authorization)(i, &uri)
            {
                b = b.header("authorization", auth);
            }
            if let Some(body) = &i.request_body {
                b = b.body(ids.apply(body));
            }
            let r = t.execute(b.build().unwrap()).await.unwrap();
            let status = r.status().as_u16();
            let headers: Vec<(String, String)> = r
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let body = r.text().await.unwrap();
            let here = format!("interaction {n} {} {}", i.method, i.uri);
            if status != i.status {
                diffs.push(format!(
                    "{here}: status {status}, recorded {} ({body})",
                    i.status
                ));
                continue;
            }
            let actual_header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            for name in self.exact_headers {
                if let Some(recorded) = i.response_header(name) {
                    match actual_header(name) {
                        Some(a) if normalize_guids(&a) == normalize_guids(recorded) => {
                            ids.learn_str(recorded, &a)
                        }
                        Some(a) => diffs.push(format!(
                            "{here}: header {name} is '{a}', recorded '{recorded}'"
                        )),
                        None => diffs.push(format!("{here}: header {name} missing")),
                    }
                }
            }
            for name in self.url_headers {
                if let (Some(recorded), Some(actual)) =
                    (i.response_header(name), actual_header(name))
                {
                    ids.learn_exact(recorded, &actual);
                }
            }
            for name in self.present_headers {
                if i.response_header(name).is_some() && actual_header(name).is_none() {
                    diffs.push(format!("{here}: header {name} missing"));
                }
            }
            // Service Bus puts JSON in a header; compare it like a body.
            if let (Some(recorded), Some(actual)) = (
                i.response_header("brokerproperties"),
                actual_header("brokerproperties"),
            ) {
                let (r, a): (Value, Value) = (
                    serde_json::from_str(recorded).unwrap(),
                    serde_json::from_str(&actual).unwrap(),
                );
                shape_diff(
                    &format!("{here}: BrokerProperties"),
                    &r,
                    &a,
                    &[],
                    &mut diffs,
                );
                ids.learn(&r, &a);
                for key in [
                    "DeliveryCount",
                    "SequenceNumber",
                    "State",
                    "EnqueuedSequenceNumber",
                    "TimeToLive",
                ] {
                    if r[key] != a[key] {
                        diffs.push(format!(
                            "{here}: BrokerProperties.{key} is {}, recorded {}",
                            a[key], r[key]
                        ));
                    }
                }
            } else if i.response_header("brokerproperties").is_some() {
                diffs.push(format!("{here}: BrokerProperties missing"));
            }
            match serde_json::from_str::<Value>(&i.response_body) {
                Ok(recorded @ (Value::Object(_) | Value::Array(_))) => {
                    match serde_json::from_str::<Value>(&body) {
                        Ok(actual) => {
                            let mut found = vec![];
                            shape_diff(
                                &format!("{here}: body"),
                                &recorded,
                                &actual,
                                self.allowed_extra,
                                &mut found,
                            );
                            found.retain(|d| {
                                !self
                                    .ignored
                                    .iter()
                                    .any(|p| d.contains(&format!(": body.{p}")))
                            });
                            diffs.extend(found);
                            ids.learn(&recorded, &actual);
                        }
                        Err(_) => diffs.push(format!("{here}: body is not JSON: {body}")),
                    }
                }
                _ => {
                    if body != i.response_body {
                        diffs.push(format!(
                            "{here}: body '{body}', recorded '{}'",
                            i.response_body
                        ));
                    }
                }
            }
        }
        (replayed, diffs)
    }
}

pub fn assert_clean(replayed: usize, expected: usize, diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "differences from the recording:\n{}",
        diffs.join("\n")
    );
    assert_eq!(replayed, expected, "interactions replayed");
}
