//! Classifying a failed VM creation: terminal with a reason a person can act on, or a
//! re-check later (throttling, outages, role assignments still propagating).

use std::time::Duration;

use super::super::{
    Outcome, Run, StepError,
    entra_codes::{self, TokenFault},
    rechecks, schedule,
};
use crate::{azure::AzureError, domain::ShareRequest};

/// How long a role just granted may still be refused before we call it a real refusal
/// (RBAC changes "can take up to 10 minutes").
const RBAC_GRACE: Duration = Duration::from_secs(15 * 60);

/// Codes a failed operation reports when trying again may work.
const TRANSIENT_OPERATION_CODES: [&str; 5] = [
    "internalservererror",
    "internalexecutionerror",
    "retryableerror",
    "serviceunavailable",
    "operationpreempted",
];

/// A long-running operation that ended `Failed`: it has no HTTP status, so one is implied —
/// 500 for the codes that mean "try again", 400 (terminal) for everything else, because a
/// provisioning failure repeats when the same VM is asked for again.
pub(super) fn classify_operation(
    run: &Run<'_>,
    request: &ShareRequest,
    code: &str,
    message: &str,
) -> Verdict {
    let transient = TRANSIENT_OPERATION_CODES.contains(&code.to_ascii_lowercase().as_str());
    classify(
        run,
        request,
        code,
        message,
        Some(if transient { 500 } else { 400 }),
        None,
    )
}

/// What to do about a failed VM creation: stop for good, or try again later.
pub(super) enum Verdict {
    Terminal(String),
    Later(Duration, String),
}

pub(super) fn classify(
    run: &Run<'_>,
    request: &ShareRequest,
    code: &str,
    message: &str,
    status: Option<u16>,
    retry_after: Option<Duration>,
) -> Verdict {
    let lower = code.to_ascii_lowercase();
    let (size, location) = request.vm.as_ref().map_or_else(
        || ("(no VM section)".to_owned(), "(no VM section)".to_owned()),
        |vm| (vm.size.to_string(), vm.location.to_string()),
    );
    match lower.as_str() {
        // An operation on the resource still runs (ours after a crash, or a racing run's):
        // wait for it, never fail. Network says AnotherOperationInProgress (409) or, per the
        // throttling doc, RetryableErrorDueToAnotherOperation (429); Compute says Conflict
        // ("conflict with a concurrent request") or OperationNotAllowed naming the operation
        // in progress. Each wait is a scheduled re-check, so the state's deadline bounds it.
        "anotheroperationinprogress" | "retryableerrorduetoanotheroperation" | "conflict" => {
            Verdict::Later(
                retry_after.unwrap_or(Duration::from_secs(30)),
                format!("Azure to finish another operation on the resource ({code})"),
            )
        }
        "operationnotallowed" if names_a_running_operation(message) => Verdict::Later(
            retry_after.unwrap_or(Duration::from_secs(30)),
            format!("Azure to finish another operation on the resource ({code})"),
        ),
        "galleryimagenotfound" => Verdict::Terminal(format!(
            "The image is not available in {location}: {message}"
        )),
        "skunotavailable" | "vmsizenotsupported" => Verdict::Terminal(format!(
            "Size {size} is not available in {location}: {message}"
        )),
        "operationnotallowed" | "quotaexceeded"
            if lower == "quotaexceeded" || message.to_ascii_lowercase().contains("quota") =>
        {
            Verdict::Terminal(format!(
                "The consumer subscription's quota does not allow this VM: {message}"
            ))
        }
        "linkedauthorizationfailed" | "authorizationfailed" => {
            let since = request
                .progress
                .access
                .role_confirmed_at
                .unwrap_or(request.updated_at);
            if run.ctx.clock.now() - since < RBAC_GRACE {
                Verdict::Later(
                    Duration::from_secs(60),
                    format!("role assignments to take effect ({code})"),
                )
            } else {
                Verdict::Terminal(format!("Azure refused the VM creation: {code}: {message}"))
            }
        }
        _ if status == Some(429) => Verdict::Later(
            retry_after.unwrap_or(Duration::from_secs(30)),
            "Resource Manager throttling".into(),
        ),
        // An outage gets re-checks further and further apart (30 s growing to 5 min); the
        // step's deadline ends it.
        _ if status.is_none_or(|s| s >= 500) => Verdict::Later(
            schedule::backoff(
                run.message.attempt + 1,
                Duration::from_secs(30),
                1.5,
                Duration::from_secs(300),
            ),
            format!("Resource Manager to recover ({code}: {message})"),
        ),
        _ if status.is_some_and(|s| (400..500).contains(&s)) => {
            Verdict::Terminal(format!("Azure refused the VM: {code}: {message}"))
        }
        _ => Verdict::Later(Duration::from_secs(30), format!("{code}: {message}")),
    }
}

/// Compute's OperationNotAllowed also covers quota and deletion; only wording about an
/// operation still going on means "wait".
fn names_a_running_operation(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["in progress", "another operation", "concurrent"]
        .iter()
        .any(|w| m.contains(w))
}

pub(super) async fn verdict(
    run: &Run<'_>,
    request: &ShareRequest,
    verdict: Verdict,
) -> Result<Outcome, StepError> {
    match verdict {
        Verdict::Terminal(reason) => Err(StepError::terminal(reason)),
        Verdict::Later(delay, why) => rechecks::again(run, delay, why).await,
    }
    .map(|o| {
        tracing::debug!(request_id = %request.id, outcome = ?o, "VM creation deferred");
        o
    })
}

pub(super) fn azure_verdict(run: &Run<'_>, request: &ShareRequest, e: &AzureError) -> Verdict {
    match e {
        AzureError::Api {
            code,
            message,
            status,
            retry_after,
            ..
        } => classify(run, request, code, message, Some(*status), *retry_after),
        AzureError::Token { .. } if !e.is_retryable() => match entra_codes::classify(e) {
            // Consent was confirmed before this step: a missing app now means the consumer's
            // admin removed it.
            TokenFault::NotConsented(code) => Verdict::Terminal(format!(
                "The app is no longer usable in tenant {} (AADSTS{code}): the consumer's admin removed its enterprise application or its consent after approving. Nothing more is created; submit a new request to share again. Entra said: {e}",
                request.consumer.tenant_id
            )),
            TokenFault::CredentialRefused(code)
                if entra_codes::credential_may_be_propagating(request, run.ctx.clock.now()) =>
            {
                Verdict::Later(
                    Duration::from_secs(30),
                    format!("the app's credential to propagate in Entra (AADSTS{code})"),
                )
            }
            TokenFault::CredentialRefused(code) => {
                Verdict::Terminal(entra_codes::credential_reason(request, code, e))
            }
            TokenFault::Other => {
                Verdict::Terminal(format!("Entra refused a token for the app: {e}"))
            }
        },
        other => Verdict::Later(Duration::from_secs(30), other.to_string()),
    }
}
