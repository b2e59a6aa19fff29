//! The README's permission list is what `infra/` grants the operator identity: the same roles
//! at the same scopes, no more and no less.

// Tests may panic on unexpected values: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeSet, path::Path};

/// Built-in Azure roles by definition id (the same in every tenant).
const AZURE_ROLES: &[(&str, &str)] = &[
    ("acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader"),
    (
        "1ef6a3be-d0ac-425d-8c01-acb62866290b",
        "Compute Gallery Sharing Admin",
    ),
    (
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        "Role Based Access Control Administrator",
    ),
    (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "Storage Blob Data Owner",
    ),
    (
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
        "Storage Table Data Contributor",
    ),
    (
        "090c5cfd-751d-490a-894a-3ce6f1109419",
        "Azure Service Bus Data Owner",
    ),
    (
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Key Vault Secrets Officer",
    ),
    (
        "3913510d-42f4-4e42-8a64-420c390055eb",
        "Monitoring Metrics Publisher",
    ),
];

/// Ids in the Bicep files that are not roles.
const NOT_ROLES: &[&str] = &["00000003-0000-0000-c000-000000000000"]; // Microsoft Graph's app id

/// The scope each module assigns its roles at, as the README names it.
fn scope_of(module: &str) -> &'static str {
    match module {
        "storage.bicep" => "storage account",
        "service-bus.bicep" => "Service Bus namespace",
        "monitoring.bicep" => "Application Insights",
        "key-vault.bicep" => "Key Vault",
        "gallery-access.bicep" => "gallery resource group",
        "graph-app-roles.bicep" => "Microsoft Graph",
        "lighthouse-delegator.bicep" => "gallery subscription",
        "direct-share-admin.bicep" => "gallery resource group",
        other => panic!("{other} grants something: name its scope in tests/permissions.rs"),
    }
}

/// Every quoted GUID in a Bicep source (`'...'`; apostrophes in comments do not matter).
fn guids(source: &str) -> Vec<String> {
    let is_guid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    source
        .match_indices('\'')
        .filter_map(|(i, _)| source.get(i + 1..i + 38))
        .filter(|quoted| quoted.ends_with('\'') && is_guid(&quoted[..36]))
        .map(|quoted| quoted[..36].to_owned())
        .collect()
}

/// (scope, role) of everything the Bicep modules grant.
fn granted_in_bicep() -> BTreeSet<(String, String)> {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/modules");
    let mut granted = BTreeSet::new();
    for entry in std::fs::read_dir(modules).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for guid in guids(&source) {
            if NOT_ROLES.contains(&guid.as_str()) {
                continue;
            }
            let role = AZURE_ROLES
                .iter()
                .find(|(id, _)| *id == guid)
                .unwrap_or_else(|| {
                    panic!("{module} uses role {guid}: add it to AZURE_ROLES and the README")
                })
                .1;
            granted.insert((scope_of(&module).to_owned(), role.to_owned()));
        }
        // A custom role is granted by the name it defines: `var roleName = '<name> (...)'`.
        if source.contains("'Microsoft.Authorization/roleDefinitions@") {
            let name = source
                .split("var roleName = '")
                .nth(1)
                .and_then(|rest| rest.split(" (").next())
                .and_then(|name| name.split('\'').next())
                .unwrap_or_else(|| panic!("{module} defines a role without `var roleName`"));
            granted.insert((scope_of(&module).to_owned(), name.to_owned()));
        }
        // Graph app roles are granted by value: `role.value == 'Mail.Send'`.
        for part in source.split("role.value == '").skip(1) {
            let value = part.split('\'').next().unwrap();
            granted.insert((scope_of(&module).to_owned(), value.to_owned()));
        }
    }
    granted
}

/// (scope, role) of the README's permission table.
fn listed_in_readme() -> BTreeSet<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, table) = readme
        .split_once("<!-- permissions: the rows below are checked by tests/permissions.rs -->")
        .expect("the README's permission table has its marker");
    table
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].to_owned(), cells[2].to_owned())
        })
        .collect()
}

#[test]
fn the_readme_lists_exactly_the_roles_and_scopes_the_bicep_files_grant() {
    let bicep = granted_in_bicep();
    let readme = listed_in_readme();
    assert!(!bicep.is_empty() && !readme.is_empty());
    let missing: Vec<_> = bicep.difference(&readme).collect();
    let extra: Vec<_> = readme.difference(&bicep).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "granted in infra/ but not in the README: {missing:?}; in the README but not granted: {extra:?}"
    );
}

#[test]
fn mail_send_for_every_mailbox_is_granted_only_on_explicit_opt_in() {
    let main =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/main.bicep")).unwrap();
    assert!(main.contains("param grantMailSendInEntra bool = false"));
    assert!(main.contains("grantMailSend: notifyMode == 'mail' && grantMailSendInEntra"));
    let parameters = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/infra/main.parameters.json"
    ))
    .unwrap();
    assert!(parameters.contains("${IMAGESHARE_GRANT_MAIL_SEND_IN_ENTRA=false}"));
}

#[test]
fn each_strategys_extra_rights_are_off_unless_the_deployer_turns_them_on() {
    let main =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/main.bicep")).unwrap();
    let parameters = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/infra/main.parameters.json"
    ))
    .unwrap();
    for (param, env) in [
        ("lighthouseDelegator", "IMAGESHARE_LIGHTHOUSE_DELEGATOR"),
        ("directShareAdmin", "IMAGESHARE_DIRECT_SHARE_ADMIN"),
        ("rbacGuest", "IMAGESHARE_RBAC_GUEST"),
    ] {
        assert!(
            main.contains(&format!("param {param} bool = false")),
            "{param} defaults to false in main.bicep"
        );
        assert!(
            parameters.contains(&format!(
                "\"{param}\": {{\n      \"value\": \"${{{env}=false}}\""
            )),
            "azd sets {param} from {env}, default false"
        );
    }
}
