//! ARM request paths: `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}...`,
//! possibly ending in an extension resource (`.../providers/Microsoft.Authorization/...`).
//! Names and types compare case-insensitively, as ARM does.

use crate::request::decode_segment;

/// The provider part a path ends with: `{ns}/{type}/{name}/{type}/{name}...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPart {
    /// `Microsoft.Compute`.
    pub namespace: String,
    /// `["galleries", "images"]`.
    pub types: Vec<String>,
    /// Names for the types; one fewer than `types` for a collection or an action.
    pub names: Vec<String>,
}

/// A parsed ARM path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmPath {
    /// Raw segments, percent-decoded.
    pub segments: Vec<String>,
    /// `/subscriptions/{s}` when the path is in a subscription.
    pub subscription: Option<String>,
    /// The resource group name, when the path is in one.
    pub resource_group: Option<String>,
    /// Everything before the last `providers` segment (`/subscriptions/s/resourceGroups/rg`).
    pub scope: String,
    /// The last provider part, if any.
    pub provider: Option<ProviderPart>,
}

impl ArmPath {
    /// Parses a path on `management.azure.com`.
    pub fn parse(path: &str) -> Self {
        let segments: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect();
        let is = |i: usize, word: &str| {
            segments
                .get(i)
                .is_some_and(|s| s.eq_ignore_ascii_case(word))
        };
        let subscription =
            (is(0, "subscriptions") && segments.len() > 1).then(|| segments[1].clone());
        let resource_group = (subscription.is_some() && is(2, "resourceGroups"))
            .then(|| segments.get(3).cloned())
            .flatten();
        let last_providers = (0..segments.len())
            .rev()
            .find(|i| is(*i, "providers") && *i + 1 < segments.len());
        let (scope_end, provider) = match last_providers {
            Some(i) => {
                let rest = &segments[i + 2..];
                (
                    i,
                    Some(ProviderPart {
                        namespace: segments[i + 1].clone(),
                        types: rest.iter().step_by(2).cloned().collect(),
                        names: rest.iter().skip(1).step_by(2).cloned().collect(),
                    }),
                )
            }
            None => (segments.len(), None),
        };
        let scope = if scope_end == 0 {
            String::new()
        } else {
            format!("/{}", segments[..scope_end].join("/"))
        };
        Self {
            segments,
            subscription,
            resource_group,
            scope,
            provider,
        }
    }

    /// `Microsoft.Compute/galleries/images` for the provider part (empty without one).
    pub fn full_type(&self) -> String {
        self.provider
            .as_ref()
            .map(|p| {
                let mut t = p.namespace.clone();
                for ty in &p.types {
                    t.push('/');
                    t.push_str(ty);
                }
                t
            })
            .unwrap_or_default()
    }

    /// True when the provider part names an item (every type has a name).
    pub fn is_item(&self) -> bool {
        self.provider
            .as_ref()
            .is_some_and(|p| !p.types.is_empty() && p.types.len() == p.names.len())
    }

    /// The id the path names, as written (without a trailing collection or action segment).
    pub fn item_id(&self) -> String {
        let Some(p) = &self.provider else {
            return self.scope.clone();
        };
        let mut id = format!("{}/providers/{}", self.scope, p.namespace);
        for (t, n) in p.types.iter().zip(&p.names) {
            id.push('/');
            id.push_str(t);
            id.push('/');
            id.push_str(n);
        }
        id
    }

    /// The last name of the provider part.
    pub fn name(&self) -> Option<&str> {
        self.provider
            .as_ref()
            .and_then(|p| p.names.last())
            .map(String::as_str)
    }

    /// The resource group scope `/subscriptions/{s}/resourceGroups/{rg}`, when in one.
    pub fn resource_group_id(&self) -> Option<String> {
        Some(format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription.as_deref()?,
            self.resource_group.as_deref()?
        ))
    }
}

/// The lookup key of an id: lower-case, no trailing slash.
pub fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// The subscription id in an ARM id.
pub fn subscription_of(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, sub, ..] if s.eq_ignore_ascii_case("subscriptions") => Some((*sub).to_owned()),
        _ => None,
    }
}

/// The resource group name in an ARM id.
pub fn resource_group_of(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, _, r, rg, ..]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups") =>
        {
            Some((*rg).to_owned())
        }
        _ => None,
    }
}

/// The last segment of an id (the resource's name).
pub fn last_name(id: &str) -> &str {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// The parent of an id: `/a/b/c/d` -> `/a/b`; a provider root `.../providers/ns/t/n` -> its scope.
pub fn parent_of(id: &str) -> String {
    let parsed = ArmPath::parse(id);
    match &parsed.provider {
        Some(p) if p.names.len() > 1 => {
            let mut id = format!("{}/providers/{}", parsed.scope, p.namespace);
            for (t, n) in p.types.iter().zip(&p.names).take(p.names.len() - 1) {
                id.push('/');
                id.push_str(t);
                id.push('/');
                id.push_str(n);
            }
            id
        }
        Some(_) => parsed.scope,
        None => {
            let trimmed = id.trim_end_matches('/');
            let mut parts: Vec<&str> = trimmed.split('/').collect();
            parts.truncate(parts.len().saturating_sub(2));
            parts.join("/")
        }
    }
}

/// The type of a resource id (`Microsoft.Compute/galleries/images`).
pub fn type_of(id: &str) -> String {
    let parsed = ArmPath::parse(id);
    if parsed.provider.is_some() {
        return parsed.full_type();
    }
    if parsed.resource_group.is_some() && parsed.segments.len() == 4 {
        return "Microsoft.Resources/resourceGroups".to_owned();
    }
    if parsed.subscription.is_some() && parsed.segments.len() == 2 {
        return "Microsoft.Resources/subscriptions".to_owned();
    }
    String::new()
}

/// ARM writes scopes in authorization messages with `resourcegroups` lower-cased.
pub fn message_scope(scope: &str) -> String {
    let parts: Vec<&str> = scope.split('/').collect();
    parts
        .iter()
        .map(|p| {
            if p.eq_ignore_ascii_case("resourceGroups") {
                "resourcegroups"
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_resource_on_a_nested_resource_splits_at_the_last_providers() {
        let p = ArmPath::parse(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/providers/Microsoft.Authorization/roleAssignments/x",
        );
        assert_eq!(p.subscription.as_deref(), Some("s"));
        assert_eq!(p.resource_group.as_deref(), Some("rg"));
        assert_eq!(
            p.scope,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
        );
        assert_eq!(p.full_type(), "Microsoft.Authorization/roleAssignments");
        assert!(p.is_item());
        assert_eq!(p.name(), Some("x"));
    }

    #[test]
    fn a_collection_has_one_name_fewer_than_types() {
        let p = ArmPath::parse(
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Authorization/permissions",
        );
        assert_eq!(p.full_type(), "Microsoft.Authorization/permissions");
        assert!(!p.is_item());
        assert_eq!(p.resource_group.as_deref(), Some("rg"));
    }

    #[test]
    fn parents_and_types_of_ids() {
        let v = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0";
        assert_eq!(type_of(v), "Microsoft.Compute/galleries/images/versions");
        assert_eq!(
            parent_of(v),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
        );
        assert_eq!(
            parent_of("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g"),
            "/subscriptions/s/resourceGroups/rg"
        );
        assert_eq!(
            type_of("/subscriptions/s/resourceGroups/rg"),
            "Microsoft.Resources/resourceGroups"
        );
        assert_eq!(
            message_scope("/subscriptions/s/resourceGroups/rg/providers/X/y/z"),
            "/subscriptions/s/resourcegroups/rg/providers/X/y/z"
        );
    }
}
