//! The pages people see, in a real browser: headless Chromium (Debian's `chromium`) renders
//! the approval page and the consent callback the consumer's admin lands on, and the status
//! page of a request. Each
//! must render with its heading, say what it is for, log nothing to the console (the pages run
//! no script, so any message, such as a blocked style, is a fault) and send the security
//! headers. Screenshots are kept under `target/tmp/pages/` as test artefacts.
//!
//! Ignored in a plain `cargo test` (it needs Chromium); `tools/test`'s `pages` step installs
//! Chromium when it is missing and runs it with `--ignored`, so there it is never skipped.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

// tokio's, not std's: the stack runs on this test's runtime, and a blocking wait for Chromium
// would leave nobody to answer its request.
use tokio::process::Command;

use local_run::{
    browser::Browser,
    demo::consent_link_from_mail,
    stack::{Stack, demo_request},
};
use serde_json::Value;

use crate::stack::start;

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    console: Vec<String>,
    screenshot: PathBuf,
}

fn chromium() -> String {
    std::env::var("IMAGESHARE_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// Loads `url` once in headless Chromium: the DOM after rendering, the console, a screenshot.
async fn render(url: &str, name: &str) -> Rendered {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    let screenshot = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&screenshot);
    let profile = dir.join(format!("profile-{name}"));
    let out = Command::new(chromium())
        .args([
            "--headless",
            // Root in CI: Chromium's sandbox needs an unprivileged user.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("chromium did not finish within 120 s")
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (tools/check-pages installs it): {e}",
                chromium()
            )
        });
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        screenshot,
    }
}

/// The checks every page passes: language, viewport, one heading equal to the title, some
/// text, no console message, a screenshot.
fn assert_readable(page: &Rendered, title: &str) {
    assert!(page.dom.contains("<html lang=\"en\">"), "{}", page.dom);
    assert!(page.dom.contains("name=\"viewport\""), "{}", page.dom);
    assert!(
        page.dom.contains(&format!("<title>{title}</title>"))
            && page.dom.contains(&format!("<h1>{title}</h1>")),
        "title and heading are not '{title}': {}",
        page.dom
    );
    assert!(
        page.console.is_empty(),
        "console messages: {:#?}",
        page.console
    );
    let png = std::fs::read(&page.screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        page.screenshot.display()
    );
}

/// The page's security headers; `form_action` is `'none'` everywhere but on the approval
/// page, whose forms post back to the app (`'self'`).
async fn assert_security_headers(url: &str, accept: &str, form_action: &str) {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{url}: {headers:?}"
    );
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{url}: {name}"
        );
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        &format!("form-action {form_action}"),
    ] {
        assert!(
            csp.contains(directive),
            "{url}: CSP {csp} lacks {directive}"
        );
    }
}

async fn wait_for_state(location: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let status: Value = reqwest::get(location).await.unwrap().json().await.unwrap();
        if status["state"] == state {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never {state}: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
#[ignore = "needs Chromium: run by tools/check-pages"]
async fn the_approval_page_the_consent_callback_and_the_status_page_render_readably_in_chromium_with_security_headers()
 {
    let (stack, _scratch): (Stack, _) = start(&[]).await;
    let submitted = reqwest::Client::new()
        .post(format!("{}/api/share-requests", stack.base_url))
        .json(&demo_request())
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 202);
    let location = submitted.headers()["location"].to_str().unwrap().to_owned();
    let status = wait_for_state(&location, "AwaitingConsent").await;
    let id = status["id"].as_str().unwrap().to_owned();

    // The status page while the admin has to act.
    let waiting = render(&location, "status-awaiting-consent").await;
    assert_readable(&waiting, &format!("Share request {id}"));
    assert!(
        waiting.dom.contains("State: AwaitingConsent"),
        "{}",
        waiting.dom
    );
    assert!(waiting.dom.contains("What to do next"), "{}", waiting.dom);
    assert_security_headers(
        &location,
        "text/html,application/xhtml+xml,*/*;q=0.8",
        "'none'",
    )
    .await;

    // The admin opens the mailed link: our approval page, with the request and both answers.
    // Chromium opening it changes nothing (the link still works below).
    let link = consent_link_from_mail(&stack.sim).expect("a consent mail");
    let approval = render(link.as_str(), "approval-page").await;
    assert_readable(&approval, "Approve sharing a VM image");
    for shown in [
        "vm-fabrikam-01",
        "Standard_D2s_v5",
        "rg-fabrikam-vms",
        "Requested by",
    ] {
        assert!(approval.dom.contains(shown), "{shown}: {}", approval.dom);
    }
    assert!(approval.dom.contains("id=\"decline\""), "{}", approval.dom);
    assert_security_headers(link.as_str(), "text/html", "'self'").await;

    // A first share: approving goes on to Microsoft's consent page; the admin signs in and
    // accepts; Entra sends them to the callback, which Chromium opens.
    let browser = Browser::new(stack.transport.clone()).unwrap();
    let page = browser.open(&link).await.unwrap();
    let signin = browser.open(&page.link("consent").unwrap()).await.unwrap();
    let consent = browser
        .submit(
            &signin.form("signin").unwrap(),
            &[
                ("login", azure_sim::scenario::demo::FABRIKAM_ADMIN_UPN),
                ("passwd", azure_sim::scenario::demo::FABRIKAM_ADMIN_PASSWORD),
            ],
        )
        .await
        .unwrap();
    let redirect = browser
        .submit(&consent.form("accept").unwrap(), &[])
        .await
        .unwrap();
    let callback = redirect.location.expect("Entra redirects to the callback");
    assert!(
        callback.path().ends_with("/api/consent/callback"),
        "{callback}"
    );
    let thanks = render(callback.as_str(), "consent-callback").await;
    assert_readable(&thanks, "Thank you: consent recorded");
    assert!(
        thanks.dom.contains("Contributor"),
        "what is left is not said: {}",
        thanks.dom
    );
    // The same page function answers every callback; an invalid link shows its headers.
    assert_security_headers(
        &format!("{}/api/consent/callback", stack.base_url),
        "text/html",
        "'none'",
    )
    .await;

    // The status page after consent.
    let after = render(&location, "status-after-consent").await;
    assert_readable(&after, &format!("Share request {id}"));

    // A second share, approved in one visit: the approval page's one-visit link, one sign-in
    // (with Entra's consent page for Resource Manager's scope), and the page that says what
    // was done in the tenant.
    let mut second = demo_request();
    second["vm"]["name"] = "vm-fabrikam-02".into();
    let submitted = reqwest::Client::new()
        .post(format!("{}/api/share-requests", stack.base_url))
        .json(&second)
        .send()
        .await
        .unwrap();
    let second_location = submitted.headers()["location"].to_str().unwrap().to_owned();
    wait_for_state(&second_location, "AwaitingConsent").await;
    let link = consent_link_from_mail(&stack.sim).expect("a second mail");
    let approval = render(link.as_str(), "approval-page-one-visit").await;
    assert!(
        approval.dom.contains("Approve in one sign-in"),
        "{}",
        approval.dom
    );
    let page = browser.open(&link).await.unwrap();
    let signin = browser
        .open(&page.link("one-visit").unwrap())
        .await
        .unwrap();
    let after_signin = browser
        .submit(
            &signin.form("signin").unwrap(),
            &[
                ("login", azure_sim::scenario::demo::FABRIKAM_ADMIN_UPN),
                ("passwd", azure_sim::scenario::demo::FABRIKAM_ADMIN_PASSWORD),
            ],
        )
        .await
        .unwrap();
    // Resource Manager's delegated scope was not consented by the first share's consent.
    let redirect = match after_signin.form("accept") {
        Ok(accept) => browser.submit(&accept, &[]).await.unwrap(),
        Err(_) => after_signin,
    };
    let callback = redirect
        .location
        .expect("Entra redirects to the callback with a code");
    let done = render(callback.as_str(), "one-visit-done").await;
    assert_readable(&done, "Thank you: request approved");
    assert!(
        done.dom.contains("Virtual Machine Contributor"),
        "what was done is not said: {}",
        done.dom
    );
    stack.shutdown().await.unwrap();
}
