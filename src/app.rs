//! The HTTP server the host talks to: routes built from the function table.

use std::net::{Ipv4Addr, SocketAddr};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, Uri},
    middleware,
    routing::{MethodRouter, delete, get, post},
};
use tokio::net::TcpListener;

use crate::{
    api::{self, Problem},
    context::AppContext,
    functions::{Function, Trigger},
    intake,
    invocation::{
        InvocationId,
        admission::{self, Admission, Kind},
        invocation_span,
    },
    steps,
};

/// The route for one function.
fn route(function: Function) -> MethodRouter<AppContext> {
    match function {
        Function::SubmitShareRequest => post(api::submit_share_request),
        Function::GetShareRequest => get(api::get_share_request),
        Function::ConsentCallback => get(api::consent_callback),
        Function::ApprovalPage => get(api::approval_page),
        // An answer is a few hundred bytes: the form's limit keeps a flood from being read.
        Function::AnswerApproval => {
            post(api::answer_approval).layer(DefaultBodyLimit::max(api::APPROVAL_FORM_MAX_BYTES))
        }
        Function::DelegationDonePage => get(api::delegation_done_page),
        Function::AnswerDelegationDone => post(api::answer_delegation_done)
            .layer(DefaultBodyLimit::max(api::DELEGATION_DONE_FORM_MAX_BYTES)),
        Function::ResendConsentLink => post(api::resend_consent_link),
        Function::RevokeShareRequest => delete(api::revoke_share_request),
        Function::OpenApi => get(api::openapi),
        Function::ReceiveShareRequest => post(intake::queue::receive),
        Function::Reconcile => post(steps::reconcile::invoke),
        Function::Step(step) => post(
            move |state: State<AppContext>, id: InvocationId, body: axum::body::Bytes| {
                steps::invoke(step, state, id, body)
            },
        ),
    }
}

/// The full router: readiness, every function (each behind its kind's admission limit), and
/// a problem+json 404.
pub fn router(ctx: AppContext) -> Router {
    let at_once = ctx.settings.pipeline.invocations_at_once;
    let queue = Admission::new(Kind::Queue, at_once);
    let http = Admission::new(Kind::Http, at_once);
    let mut router = Router::new().route("/", get(|| async { "ok" }));
    for function in Function::ALL {
        let admission = match function.trigger() {
            Trigger::Http { .. } => http.clone(),
            Trigger::Queue { .. } | Trigger::Timer { .. } => queue.clone(),
        };
        let route =
            route(function).layer(middleware::from_fn_with_state(admission, admission::admit));
        router = router.route(&function.handler_path(), route);
    }
    router
        .fallback(|uri: Uri| async move {
            Problem::not_found(format!("no function serves {}", uri.path())).at(uri.path())
        })
        .method_not_allowed_fallback(|uri: Uri| async move {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this path does not accept that method",
            )
            .at(uri.path())
        })
        .layer(middleware::from_fn(api::problem_for_plain_errors))
        .layer(middleware::from_fn(invocation_span))
        .with_state(ctx)
}

/// The bound server, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds `127.0.0.1:{port}` (the host always calls IPv4 loopback; binding loopback only
    /// keeps the handler off the network). Port 0 picks a free port (tests).
    pub async fn build(ctx: AppContext, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        Ok(Self {
            listener,
            router: router(ctx),
        })
    }

    /// Serves on `listener`, already bound (a test that must know the port before the
    /// settings are built keeps its listener, so no other process can take the port between).
    pub fn from_listener(
        ctx: AppContext,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener: TcpListener::from_std(listener)?,
            router: router(ctx),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // `into_make_service` turns the routes into services once; serving the `Router` itself
        // rebuilds every route for each connection the host opens (about 40 KiB each, and the
        // host keeps one per invocation in flight).
        axum::serve(self.listener, self.router.into_make_service())
            .with_graceful_shutdown(shutdown_signal())
            .await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
