//! The functions this app defines. The router is built from this table and a test checks it
//! against `functions/*/function.json`, so the handler and the deploy layout cannot drift.

use crate::{domain::Step, invocation::BodyEncoding};

/// How the host triggers a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// An HTTP trigger forwarded as is (`enableForwardingHttpRequest`).
    Http {
        /// Methods, lowercase as in function.json.
        methods: &'static [&'static str],
        /// Route template under the `api` prefix, as in function.json.
        route: &'static str,
        /// `function` or `anonymous`.
        auth_level: &'static str,
    },
    /// A Service Bus queue trigger, posted to `/{FunctionName}`.
    Queue {
        /// The queue.
        queue: &'static str,
        /// The trigger binding's name in function.json.
        binding: &'static str,
        /// How the binding delivers the body.
        encoding: BodyEncoding,
    },
    /// A timer trigger, posted to `/{FunctionName}`.
    Timer {
        /// The NCRONTAB schedule as written in function.json (an app-setting expression).
        schedule: &'static str,
        /// The trigger binding's name in function.json.
        binding: &'static str,
    },
}

/// One function of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `POST /api/share-requests`.
    SubmitShareRequest,
    /// `GET /api/share-requests/{id}`.
    GetShareRequest,
    /// `GET /api/consent/callback`: Entra redirects the consumer admin here.
    ConsentCallback,
    /// `GET /api/approval?state=..`: the consumer admin's approval page for one request.
    ApprovalPage,
    /// `POST /api/approval`: the approval page's answer (same route as ApprovalPage; the host
    /// tells them apart by method).
    AnswerApproval,
    /// `GET /api/delegation/done?state=..`: a `lighthouse` consumer's "we are done" page.
    DelegationDonePage,
    /// `POST /api/delegation/done`: that page's answer, which ends the delegation now.
    AnswerDelegationDone,
    /// `POST /api/share-requests/{id}/consent-link`: the operator re-sends the consent link.
    ResendConsentLink,
    /// `DELETE /api/share-requests/{id}`: revokes the share (same route as
    /// GetShareRequest; the host tells them apart by method).
    RevokeShareRequest,
    /// `GET /api/openapi.json`: the OpenAPI document of the HTTP API (`openapi/openapi.json`).
    OpenApi,
    /// Share requests from automation, on the `share-requests` queue.
    ReceiveShareRequest,
    /// A pipeline step on its queue.
    Step(Step),
    /// The timer that re-sends lost steps, expires and fails overdue requests, and sends
    /// outboxes left behind.
    Reconcile,
}

/// The trigger binding name used by every queue function.
pub const QUEUE_BINDING: &str = "message";

impl Function {
    /// Every function, in the order the router registers them.
    pub const ALL: [Self; 24] = [
        Self::SubmitShareRequest,
        Self::GetShareRequest,
        Self::ConsentCallback,
        Self::ApprovalPage,
        Self::AnswerApproval,
        Self::DelegationDonePage,
        Self::AnswerDelegationDone,
        Self::ResendConsentLink,
        Self::RevokeShareRequest,
        Self::OpenApi,
        Self::ReceiveShareRequest,
        Self::Step(Step::IssueCredentials),
        Self::Step(Step::SendConsentLink),
        Self::Step(Step::ConfirmConsent),
        Self::Step(Step::CreateVm),
        Self::Step(Step::RevokeAccess),
        Self::Step(Step::ReleaseAccess),
        Self::Step(Step::Delegate),
        Self::Step(Step::EndDelegation),
        Self::Step(Step::ShareGallery),
        Self::Step(Step::UnshareGallery),
        Self::Step(Step::GrantGuest),
        Self::Step(Step::RemoveGuest),
        Self::Reconcile,
    ];

    /// The function's name: its folder under `functions/`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SubmitShareRequest => "SubmitShareRequest",
            Self::GetShareRequest => "GetShareRequest",
            Self::ConsentCallback => "ConsentCallback",
            Self::ApprovalPage => "ApprovalPage",
            Self::AnswerApproval => "AnswerApproval",
            Self::DelegationDonePage => "DelegationDonePage",
            Self::AnswerDelegationDone => "AnswerDelegationDone",
            Self::ResendConsentLink => "ResendConsentLink",
            Self::RevokeShareRequest => "RevokeShareRequest",
            Self::OpenApi => "OpenApi",
            Self::ReceiveShareRequest => "ReceiveShareRequest",
            Self::Step(step) => step.function_name(),
            Self::Reconcile => "Reconcile",
        }
    }

    /// How it is triggered.
    pub fn trigger(self) -> Trigger {
        match self {
            Self::SubmitShareRequest => Trigger::Http {
                methods: &["post"],
                route: "share-requests",
                auth_level: "function",
            },
            Self::GetShareRequest => Trigger::Http {
                methods: &["get"],
                route: "share-requests/{id}",
                auth_level: "function",
            },
            Self::RevokeShareRequest => Trigger::Http {
                methods: &["delete"],
                route: "share-requests/{id}",
                auth_level: "function",
            },
            Self::ResendConsentLink => Trigger::Http {
                methods: &["post"],
                route: "share-requests/{id}/consent-link",
                auth_level: "function",
            },
            Self::ConsentCallback => Trigger::Http {
                methods: &["get"],
                route: "consent/callback",
                auth_level: "anonymous",
            },
            // Anonymous like the callback: the admin has no key, the state is the credential.
            Self::ApprovalPage => Trigger::Http {
                methods: &["get"],
                route: "approval",
                auth_level: "anonymous",
            },
            Self::AnswerApproval => Trigger::Http {
                methods: &["post"],
                route: "approval",
                auth_level: "anonymous",
            },
            Self::DelegationDonePage => Trigger::Http {
                methods: &["get"],
                route: "delegation/done",
                auth_level: "anonymous",
            },
            Self::AnswerDelegationDone => Trigger::Http {
                methods: &["post"],
                route: "delegation/done",
                auth_level: "anonymous",
            },
            // Anonymous: the document describes the API, it holds nothing of any request.
            Self::OpenApi => Trigger::Http {
                methods: &["get"],
                route: "openapi.json",
                auth_level: "anonymous",
            },
            Self::ReceiveShareRequest => Trigger::Queue {
                queue: "share-requests",
                binding: QUEUE_BINDING,
                encoding: BodyEncoding::Binary,
            },
            Self::Step(step) => Trigger::Queue {
                queue: step.queue(),
                binding: QUEUE_BINDING,
                encoding: BodyEncoding::Binary,
            },
            // The schedule is an app setting so operators tune it without a redeploy; the
            // host refuses to start when it does not resolve, so infra always sets it.
            Self::Reconcile => Trigger::Timer {
                schedule: "%IMAGESHARE_RECONCILE_SCHEDULE%",
                binding: "timer",
            },
        }
    }

    /// The path the handler serves for this function: the original path for forwarded HTTP
    /// (route prefix `api`), `/{FunctionName}` for everything else.
    pub fn handler_path(self) -> String {
        match self.trigger() {
            Trigger::Http { route, .. } => format!("/api/{route}"),
            Trigger::Queue { .. } | Trigger::Timer { .. } => format!("/{}", self.name()),
        }
    }
}
