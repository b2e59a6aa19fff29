//! How many invocations the handler works on at once.
//!
//! The host sends every invocation it holds to the one handler process at the same time: up to
//! `maxConcurrentCalls` per queue function (13 of them) plus every HTTP request. An invocation
//! being worked on costs its step's state (a step's future alone is about 20 KiB) and its reads,
//! while most of them would only wait for one of the 32 calls per host that may be out
//! (`azure::http`). So only so many are worked on at once; the others wait here, in order,
//! before their body is read or their handler started, costing no more than their connection.
//!
//! Queue-triggered invocations (steps, intake, the reconciler) and HTTP requests have a limit
//! each, so that a pipeline's backlog never keeps a person's request waiting. A wait has a
//! deadline: past it a queue invocation is failed (the host abandons the message and Service
//! Bus redelivers it) and an HTTP request is answered 503 with `Retry-After`.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;
use tracing::warn;

use super::InvocationReply;
use crate::api::Problem;

/// How long a queue invocation may wait for its turn: well inside the message's lock (renewed
/// by the host) and the host's `functionTimeout`, and far longer than a turn takes.
pub const QUEUE_WAIT: Duration = Duration::from_secs(60);
/// How long an HTTP request may wait: a person is waiting, and Azure's front end gives up at
/// 230 s.
pub const HTTP_WAIT: Duration = Duration::from_secs(30);

/// Which kind of invocation a limit is for: it decides how a wait past its deadline is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Queue and timer triggers: answered with a failed invocation, which the host retries.
    Queue,
    /// HTTP triggers: answered 503 problem+json with `Retry-After`.
    Http,
}

/// One limit: its permits, its kind and its deadline.
#[derive(Clone, Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    kind: Kind,
    wait: Duration,
}

impl Admission {
    /// At most `at_once` invocations of `kind` worked on together (at least one).
    pub fn new(kind: Kind, at_once: usize) -> Self {
        let wait = match kind {
            Kind::Queue => QUEUE_WAIT,
            Kind::Http => HTTP_WAIT,
        };
        Self::with_wait(kind, at_once, wait)
    }

    /// As [`Admission::new`], with another deadline (tests).
    pub fn with_wait(kind: Kind, at_once: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(at_once.clamp(1, Semaphore::MAX_PERMITS))),
            kind,
            wait,
        }
    }

    /// The answer to an invocation that waited past the deadline.
    fn busy(&self) -> Response {
        let why = format!(
            "the handler is working on as many invocations as it may; this one waited {} s",
            self.wait.as_secs_f64()
        );
        match self.kind {
            Kind::Queue => InvocationReply::with_logs(vec![why]).retry(),
            Kind::Http => Problem::unavailable(why).into_response(),
        }
    }
}

/// Middleware: runs the request once a permit is free, and holds it until the response is
/// ready (the body of every response here is already in memory).
pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    // A free permit is taken at once, without arming a timer (the common case).
    let permit = if let Ok(permit) = admission.permits.clone().try_acquire_owned() {
        permit
    } else {
        let wait = admission.permits.clone().acquire_owned();
        // The semaphore is never closed; a closed one is answered as a full house too.
        let Ok(Ok(permit)) = tokio::time::timeout(admission.wait, wait).await else {
            warn!(kind = ?admission.kind, waited_s = admission.wait.as_secs_f64(), "invocation not admitted in time");
            return admission.busy();
        };
        permit
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{Router, body::Body, http::StatusCode, middleware, routing::post};
    use tower::ServiceExt;

    use super::*;

    /// A route that counts how many of its handlers run at once, each for `work`.
    fn counting_router(admission: Admission, work: Duration) -> (Router, Arc<AtomicUsize>) {
        let running_now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (n, m) = (running_now, most.clone());
        let router = Router::new()
            .route(
                "/f",
                post(move || {
                    let (n, m) = (n.clone(), m.clone());
                    async move {
                        let running = n.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(running, Ordering::SeqCst);
                        tokio::time::sleep(work).await;
                        n.fetch_sub(1, Ordering::SeqCst);
                        "done"
                    }
                }),
            )
            .layer(middleware::from_fn_with_state(admission, admit));
        (router, most)
    }

    fn post_f() -> Request {
        Request::post("/f").body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn no_more_invocations_than_the_limit_run_at_once_and_the_rest_wait_their_turn() {
        let (router, most) =
            counting_router(Admission::new(Kind::Queue, 3), Duration::from_millis(20));
        let calls = (0..10).map(|_| router.clone().oneshot(post_f()));
        let responses = futures::future::join_all(calls).await;
        assert!(
            responses
                .iter()
                .all(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK)),
            "every invocation ran in the end"
        );
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_queue_invocation_that_waits_past_the_deadline_is_failed_so_the_host_retries_it() {
        let admission = Admission::with_wait(Kind::Queue, 1, Duration::from_millis(100));
        let (router, _) = counting_router(admission, Duration::from_secs(1));
        let first = tokio::spawn(router.clone().oneshot(post_f()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = router.oneshot(post_f()).await.unwrap();
        assert_eq!(second.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(second.into_body(), 4096)
            .await
            .unwrap();
        let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(reply["Logs"][0].as_str().unwrap().contains("waited 0.1 s"));
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_http_request_that_waits_past_the_deadline_gets_503_with_retry_after() {
        let admission = Admission::with_wait(Kind::Http, 1, Duration::from_millis(100));
        let (router, _) = counting_router(admission, Duration::from_secs(1));
        let _first = tokio::spawn(router.clone().oneshot(post_f()));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = router.oneshot(post_f()).await.unwrap();
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(second.headers()["content-type"], "application/problem+json");
        assert!(second.headers().contains_key("retry-after"));
    }
}
