//! Removals in the owner's tenant: the Reader grant on the image definition, the app's
//! credential, the app itself. Each is idempotent (already gone is recorded as such) and
//! recorded with the service's id of the call.

use super::super::{Run, StepError};
pub(in crate::steps) use crate::steps::removal::of as removal;
use crate::{
    azure::{AzureError, arm::ArmIdentity, arm::api_versions},
    domain::{AppRecord, CredentialRecord, Removable, Removal, RemovalService},
};

/// The operator's identity lacks a permission: the deployment must change, retrying cannot.
fn not_allowed(error: AzureError, what: &str) -> StepError {
    if error.status() == Some(403) {
        StepError::terminal(format!(
            "The Function App's identity is not allowed to remove {what}: {error}. Grant it the missing permission (docs/deploy.md) and revoke the request again."
        ))
    } else {
        error.into()
    }
}

/// Removes the app's Reader assignment on the image definition.
pub(in crate::steps) async fn remove_reader(run: &Run<'_>, id: &str) -> Result<Removal, StepError> {
    let cloud = run.cloud()?;
    let deleted = cloud
        .arm
        .delete(&ArmIdentity::Operator, id, api_versions::AUTHORIZATION)
        .await
        .map_err(|e| not_allowed(e, "the Reader role assignment on the image"))?;
    Ok(removal(
        run,
        Removable::RoleAssignment,
        id,
        RemovalService::Arm,
        &deleted,
    ))
}

/// Removes the app's credential: the federated credential, or the client secret.
pub(in crate::steps) async fn remove_credential(
    run: &Run<'_>,
    app: &AppRecord,
) -> Result<Removal, StepError> {
    let cloud = run.cloud()?;
    let removal = match &app.credential {
        CredentialRecord::Federated { name } => {
            let deleted = cloud
                .graph
                .delete_federated_credential(&app.object_id, name)
                .await
                .map_err(|e| not_allowed(e, "the app's federated credential"))?;
            removal(
                run,
                Removable::FederatedCredential,
                name,
                RemovalService::Graph,
                &deleted,
            )
        }
        CredentialRecord::Secret { key_id, .. } => {
            let deleted = cloud
                .graph
                .delete_password(&app.object_id, key_id)
                .await
                .map_err(|e| not_allowed(e, "the app's client secret"))?;
            removal(
                run,
                Removable::ClientSecret,
                key_id,
                RemovalService::Graph,
                &deleted,
            )
        }
    };
    // Tokens already issued stay valid until they expire (Entra does not revoke them), but
    // this process stops using them now.
    cloud.tokens.forget_app(&app.app_id);
    Ok(removal)
}

/// Removes the app's service principal in the owner's tenant, then the app registration.
/// Graph documents that deleting an app deletes its home-tenant service principal too; the
/// explicit delete makes that so whatever the directory does, and is recorded ("already
/// gone" when the app took it along).
pub(in crate::steps) async fn remove_app(
    run: &Run<'_>,
    app: &AppRecord,
) -> Result<Vec<Removal>, StepError> {
    let cloud = run.cloud()?;
    let sp = cloud
        .graph
        .delete_service_principal(&app.service_principal_id)
        .await
        .map_err(|e| not_allowed(e, "the app's service principal"))?;
    let sp = removal(
        run,
        Removable::ServicePrincipal,
        &app.service_principal_id,
        RemovalService::Graph,
        &sp,
    );
    let deleted = cloud
        .graph
        .delete_application(&app.object_id)
        .await
        .map_err(|e| not_allowed(e, "the app registration"))?;
    cloud.tokens.forget_app(&app.app_id);
    Ok(vec![
        sp,
        removal(
            run,
            Removable::Application,
            &app.object_id,
            RemovalService::Graph,
            &deleted,
        ),
    ])
}
