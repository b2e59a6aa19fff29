//! JSON APIs called with a bearer token: Resource Manager, Microsoft Graph, Key Vault.

use azure_sim::Sim;
use reqwest::{Method, header::HeaderMap};
use serde_json::Value;

use super::{arm::ARM, transport};

/// Microsoft Graph v1.0's base URL.
const GRAPH_V1: &str = "https://graph.microsoft.com/v1.0";

/// What a JSON call answers: status, headers and body (Null when empty).
pub type Answer = (u16, HeaderMap, Value);

/// `method url` through the transport, with a bearer token when given, a JSON body when given
/// and extra headers.
pub async fn json_call(
    sim: &Sim,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let t = transport(sim);
    let mut b = t.client().request(method, url);
    if let Some(token) = token {
        b = b.bearer_auth(token);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = t.execute(b.build().unwrap()).await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, h, json)
}

/// An ARM call through the transport: status, headers and JSON body (Null when empty).
pub async fn arm(
    sim: &Sim,
    method: Method,
    path_and_query: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    Api::arm(sim, token)
        .send(method, path_and_query, body, headers)
        .await
}

/// One principal calling a JSON API (Resource Manager, Microsoft Graph, a Key Vault) with its
/// bearer token.
#[derive(Debug, Clone)]
pub struct Api<'a> {
    sim: &'a Sim,
    base: String,
    /// The bearer token.
    pub token: String,
}

impl<'a> Api<'a> {
    /// The API at `base` (`https://host` or `https://host/version`) as the holder of `token`.
    pub fn new(sim: &'a Sim, base: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            sim,
            base: base.into(),
            token: token.into(),
        }
    }

    /// Resource Manager as the holder of `token`.
    pub fn arm(sim: &'a Sim, token: impl Into<String>) -> Self {
        Self::new(sim, ARM, token)
    }

    /// Microsoft Graph v1.0 as the holder of `token`.
    pub fn graph(sim: &'a Sim, token: impl Into<String>) -> Self {
        Self::new(sim, GRAPH_V1, token)
    }

    /// `method path` (or `method` on `path` when it is a whole URL, as pollers are) with an
    /// optional JSON body and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = if path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        json_call(self.sim, method, &url, Some(&self.token), body, headers).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body), &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    /// Graph's upsert: `PATCH path` with `Prefer: create-if-missing`.
    pub async fn upsert(&self, path: &str, body: Value) -> Answer {
        self.send(
            Method::PATCH,
            path,
            Some(body),
            &[("prefer", "create-if-missing")],
        )
        .await
    }
}
