//! A minimal browser for the consent flow: follows links as a person would, submits HTML
//! forms (hidden fields kept, visible ones filled in), and stops at redirects so the caller
//! sees where Entra sends the admin.
//!
//! Links to Azure hosts are opened at the simulator's address (DESIGN §5: a browser cannot
//! route; the edge rewrites). Everything else (our own callback) is opened as it is.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use azure_transport::Transport;
use reqwest::{StatusCode, redirect::Policy};
use url::Url;

/// A page the browser is on.
#[derive(Debug, Clone)]
pub struct Page {
    /// Where it was loaded from (after rewriting).
    pub url: Url,
    /// Its status.
    pub status: StatusCode,
    /// Its `Location`, when it is a redirect.
    pub location: Option<Url>,
    /// Its HTML.
    pub html: String,
}

/// One `<form>` of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Its `id`.
    pub id: String,
    /// Its `action`, resolved against the page.
    pub action: Url,
    /// Its hidden inputs.
    pub hidden: BTreeMap<String, String>,
}

/// The browser.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    transport: Transport,
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

impl Page {
    /// The forms on the page.
    pub fn forms(&self) -> Vec<Form> {
        let mut forms = Vec::new();
        let mut rest = self.html.as_str();
        while let Some(open) = rest.find("<form") {
            let after = &rest[open..];
            let Some(tag_end) = after.find('>') else {
                break;
            };
            let tag = &after[..tag_end];
            let close = after.find("</form>").unwrap_or(after.len());
            let body = &after[tag_end..close];
            let id = attribute(tag, "id").unwrap_or_default();
            let action = attribute(tag, "action")
                .and_then(|a| self.url.join(&a).ok())
                .unwrap_or_else(|| self.url.clone());
            let mut hidden = BTreeMap::new();
            let mut inputs = body;
            while let Some(i) = inputs.find("<input") {
                let input = &inputs[i..];
                let end = input.find('>').unwrap_or(input.len());
                let itag = &input[..end];
                if attribute(itag, "type").as_deref() == Some("hidden")
                    && let Some(name) = attribute(itag, "name")
                {
                    hidden.insert(name, attribute(itag, "value").unwrap_or_default());
                }
                inputs = &input[end..];
            }
            forms.push(Form { id, action, hidden });
            rest = &after[close.min(after.len())..];
            if close == after.len() {
                break;
            }
        }
        forms
    }

    /// The form with `id`.
    pub fn form(&self, id: &str) -> anyhow::Result<Form> {
        self.forms()
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| anyhow!("no form '{id}' on {}: {}", self.url, excerpt(&self.html)))
    }

    /// The `href` of the link (`<a>`) with `id`, resolved against the page.
    pub fn link(&self, id: &str) -> anyhow::Result<Url> {
        let needle = format!("id=\"{id}\"");
        self.html
            .split("<a ")
            .skip(1)
            .filter_map(|rest| rest.split('>').next())
            .find(|tag| tag.contains(&needle))
            .and_then(|tag| attribute(tag, "href"))
            .and_then(|href| self.url.join(&href).ok())
            .ok_or_else(|| anyhow!("no link '{id}' on {}: {}", self.url, excerpt(&self.html)))
    }

    /// The text of the element with `id` (first text run), for reading error pages.
    pub fn text_of(&self, id: &str) -> Option<String> {
        let needle = format!("id=\"{id}\">");
        let start = self.html.find(&needle)? + needle.len();
        let end = self.html[start..].find('<')? + start;
        Some(unescape(&self.html[start..end]))
    }
}

fn excerpt(html: &str) -> String {
    html.chars().take(400).collect()
}

impl Browser {
    /// A browser that opens Azure links through `transport`'s routing.
    pub fn new(transport: Transport) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .context("building the browser's client")?;
        Ok(Self { client, transport })
    }

    /// Opens `url` (GET).
    pub async fn open(&self, url: &Url) -> anyhow::Result<Page> {
        let target = self.transport.resolve(url);
        let response = self
            .client
            .get(target.clone())
            .send()
            .await
            .with_context(|| format!("opening {target}"))?;
        Self::page(target, response).await
    }

    /// Submits `form` with its hidden fields plus `fields` (POST, form-encoded).
    pub async fn submit(&self, form: &Form, fields: &[(&str, &str)]) -> anyhow::Result<Page> {
        let mut body: Vec<(String, String)> = form
            .hidden
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        body.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let response = self
            .client
            .post(form.action.clone())
            .form(&body)
            .send()
            .await
            .with_context(|| format!("submitting to {}", form.action))?;
        Self::page(form.action.clone(), response).await
    }

    /// Follows a redirect page to where it points.
    pub async fn follow(&self, page: &Page) -> anyhow::Result<Page> {
        let Some(location) = &page.location else {
            bail!(
                "{} ({}) is not a redirect: {}",
                page.url,
                page.status,
                excerpt(&page.html)
            );
        };
        self.open(location).await
    }

    async fn page(url: Url, response: reqwest::Response) -> anyhow::Result<Page> {
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let html = response.text().await.unwrap_or_default();
        Ok(Page {
            url,
            status,
            location,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_with_their_hidden_fields_and_resolved_actions() {
        let page = Page {
            url: Url::parse("http://127.0.0.1:1/login.microsoftonline.com/t/v2.0/adminconsent?x=1").unwrap(),
            status: StatusCode::OK,
            location: None,
            html: r#"<form id="accept" method="post" action="adminconsent"><input type="hidden" name="step" value="accept"><input type="hidden" name="session" value="a&amp;b"><button>Accept</button></form><form id="cancel" action="adminconsent"></form>"#.into(),
        };
        let forms = page.forms();
        assert_eq!(forms.len(), 2);
        assert_eq!(forms[0].id, "accept");
        assert_eq!(
            forms[0].action.as_str(),
            "http://127.0.0.1:1/login.microsoftonline.com/t/v2.0/adminconsent"
        );
        assert_eq!(forms[0].hidden["session"], "a&b");
        assert!(page.form("missing").is_err());
    }
}
