//! Graph's JSON for applications and service principals: every property present, nulls
//! included, in the shapes the recordings show.

use serde_json::{Map, Value, json};

use crate::{
    directory::{Application, ServicePrincipal},
    timefmt,
};

/// Fills the full application property set from a create/upsert body.
pub fn new_application_props(
    body: &Map<String, Value>,
    publisher_domain: &str,
) -> Map<String, Value> {
    let mut props = json!({
        "applicationTemplateId": null,
        "disabledByMicrosoftStatus": null,
        "displayName": null,
        "description": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": null,
        "nativeAuthenticationApisEnabled": null,
        "notes": null,
        "publisherDomain": publisher_domain,
        "serviceManagementReference": null,
        // Graph's default when the client sends none (recorded), not AzureADMyOrg.
        "signInAudience": "AzureADandPersonalMicrosoftAccount",
        "tags": [],
        "tokenEncryptionKeyId": null,
        "uniqueName": null,
        "samlMetadataUrl": null,
        "defaultRedirectUri": null,
        "certification": null,
        "optionalClaims": null,
        "servicePrincipalLockConfiguration": null,
        "requestSignatureVerification": null,
        "addIns": [],
        "api": {"acceptMappedClaims": null, "knownClientApplications": [], "requestedAccessTokenVersion": null,
                "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null,
                 "termsOfServiceUrl": null},
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "web": {"homePageUrl": null, "logoutUrl": null, "redirectUris": [], "redirectUriSettings": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false}},
        "spa": {"redirectUris": []},
    });
    let props = props
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut props = merge(props, body);
    // Personal-account apps get v2 access tokens; the recording shows 2 for that default.
    if props.get("signInAudience").and_then(Value::as_str)
        == Some("AzureADandPersonalMicrosoftAccount")
        && let Some(api) = props.get_mut("api").and_then(Value::as_object_mut)
        && api
            .get("requestedAccessTokenVersion")
            .is_none_or(Value::is_null)
    {
        api.insert("requestedAccessTokenVersion".into(), 2.into());
    }
    props
}

/// Applies a PATCH/create body: top-level properties replace, objects merge one level down.
pub fn merge(mut props: Map<String, Value>, body: &Map<String, Value>) -> Map<String, Value> {
    for (k, v) in body {
        if matches!(
            k.as_str(),
            "id" | "appId"
                | "createdDateTime"
                | "deletedDateTime"
                | "passwordCredentials"
                | "@odata.context"
        ) {
            continue;
        }
        match (props.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(update)) => {
                for (ik, iv) in update {
                    existing.insert(ik.clone(), iv.clone());
                }
            }
            _ => {
                props.insert(k.clone(), v.clone());
            }
        }
    }
    props
}

/// The application as Graph returns it. `precise`: the 7-digit createdDateTime of a create answer.
pub fn application_json(app: &Application, precise: bool) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        "https://graph.microsoft.com/v1.0/$metadata#applications/$entity".into(),
    );
    out.insert("id".into(), app.id.clone().into());
    out.insert("deletedDateTime".into(), Value::Null);
    out.insert("appId".into(), app.app_id.clone().into());
    out.insert(
        "createdDateTime".into(),
        if precise {
            timefmt::graph_precise(app.created_at)
        } else {
            timefmt::graph_seconds(app.created_at)
        }
        .into(),
    );
    for (k, v) in &app.props {
        out.insert(k.clone(), v.clone());
    }
    out.insert(
        "passwordCredentials".into(),
        Value::Array(
            app.passwords
                .iter()
                .map(|p| {
                    json!({"customKeyIdentifier": null, "displayName": p.display_name, "endDateTime": p.end_text,
                           "hint": p.hint, "keyId": p.key_id, "secretText": null, "startDateTime": p.start_text})
                })
                .collect(),
        ),
    );
    Value::Object(out)
}

/// The service principal property set for `app`.
pub fn new_service_principal_props(app: &Application) -> Map<String, Value> {
    let props = json!({
        "accountEnabled": true,
        "alternativeNames": [],
        "appDisplayName": app.display_name(),
        "appDescription": null,
        "applicationTemplateId": null,
        "appOwnerOrganizationId": app.tenant,
        "appRoleAssignmentRequired": false,
        "description": null,
        "disabledByMicrosoftStatus": null,
        "displayName": app.display_name(),
        "homepage": null,
        "loginUrl": null,
        "logoutUrl": null,
        "notes": null,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": null,
        "preferredTokenSigningKeyThumbprint": null,
        "replyUrls": app.redirect_uris(),
        "servicePrincipalNames": [app.app_id],
        "servicePrincipalType": "Application",
        "signInAudience": app.prop("signInAudience"),
        "tags": [],
        "tokenEncryptionKeyId": null,
        "samlSingleSignOnSettings": null,
        "verifiedPublisher": {"displayName": null, "verifiedPublisherId": null, "addedDateTime": null},
        "addIns": [],
        "appRoles": [],
        "info": {"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null,
                 "termsOfServiceUrl": null},
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
    });
    match props {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The service principal as Graph returns it (second-precision createdDateTime).
pub fn service_principal_json(sp: &ServicePrincipal) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity".into(),
    );
    out.insert("id".into(), sp.id.clone().into());
    out.insert("deletedDateTime".into(), Value::Null);
    out.insert("appId".into(), sp.app_id.clone().into());
    out.insert(
        "createdDateTime".into(),
        timefmt::graph_seconds(sp.created_at).into(),
    );
    for (k, v) in &sp.props {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}
