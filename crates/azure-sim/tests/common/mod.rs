//! Helpers shared by the integration tests.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

mod api;
mod arm;
mod authcode;
mod entra;
mod servicebus;

use azure_sim::{Replication, Scenario, Sim};
use azure_transport::Transport;

pub use api::{Answer, Api, arm, json_call};
pub use arm::{
    ARM, ARM_SCOPE, READER, arm_as_contoso_admin, arm_as_fabrikam_admin, arm_as_operator,
    assignment_body, fabrikam_rg, images_rg, role_assignment, vnet_and_nic,
};
pub use authcode::{
    ARM_USER_IMPERSONATION, AssertionRedemption, CALLBACK, Pkce, Seen, authorize_url, browse,
    error_codes, fabrikam_admin_code, operator_assertion, redeem_with_assertion,
    redeem_with_secret, sign_in_and_accept, sign_in_at, submit_form, trust_operator_identity,
};
pub use entra::{
    AZURE_CLI, CreatedApp, app_token, claims, form, graph_as_operator, identity_request,
    operator_creates_app, operator_token, secret_form, secret_grant, token_request, user_arm_token,
};
pub use servicebus::{authorized, demo_sas, sas, sb_url};

/// The demo scenario, immediately consistent.
pub fn demo_scenario() -> Scenario {
    Scenario::demo().with_replication(Replication::none())
}

/// A running simulator of the immediately consistent demo.
pub async fn start_demo() -> Sim {
    Sim::start(demo_scenario()).await.unwrap()
}

/// The routing transport the product uses, pointed at `sim`.
pub fn transport(sim: &Sim) -> Transport {
    Transport::simulated(&sim.url()).unwrap()
}

/// Sends `method url` with headers and body through the transport.
pub async fn call(
    transport: &Transport,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut builder = transport.client().request(method, url).body(body);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    transport.execute(builder.build().unwrap()).await.unwrap()
}

/// A header as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    hv(response.headers(), name)
}

/// A header as text, from a header map.
pub fn hv(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
