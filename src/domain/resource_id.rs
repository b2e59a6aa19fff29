//! Azure Resource Manager resource ids, and the two kinds a share request names.
//!
//! Grammar (resource-group scoped, which is all a share request can name):
//! `/subscriptions/{guid}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{type}/{name}]...`
//! ARM compares ids case-insensitively; so do we. The spelling the caller used is kept for display.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Invalid, SubscriptionId};

/// Longest id we accept. ARM itself refuses ids far shorter than this in practice.
const MAX_ID_LEN: usize = 1024;

/// A resource group name: 1-90 letters, digits, `_ - . ( )`, not ending in a period.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResourceGroupName(String);

impl ResourceGroupName {
    /// Validates a resource group name as ARM does.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let len = s.chars().count();
        if len == 0 || len > 90 {
            return Err(Invalid::new(
                "a resource group name is 1 to 90 characters long",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
        {
            return Err(Invalid::new(
                "a resource group name may only contain letters, digits, '_', '-', '.', '(' and ')'",
            ));
        }
        if s.ends_with('.') {
            return Err(Invalid::new(
                "a resource group name cannot end with a period",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceGroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResourceGroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceGroupName({})", self.0)
    }
}

/// A resource-group-scoped ARM resource id.
#[derive(Clone)]
pub struct ResourceId {
    subscription: SubscriptionId,
    resource_group: ResourceGroupName,
    namespace: String,
    /// `(type, name)` pairs from the outermost resource inwards.
    segments: Vec<(String, String)>,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_namespace(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2 && parts.iter().all(|p| is_identifier(p))
}

fn is_resource_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 260 && !s.chars().any(|c| c.is_control() || c == '?' || c == '#')
}

impl ResourceId {
    /// Parses a resource-group-scoped id.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        const SHAPE: &str = "a resource id looks like /subscriptions/{id}/resourceGroups/{name}/providers/{Namespace}/{type}/{name}";
        if s.len() > MAX_ID_LEN {
            return Err(Invalid::new(format!(
                "a resource id is at most {MAX_ID_LEN} characters"
            )));
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(Invalid::new(SHAPE));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        // subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name} = 8 parts minimum,
        // then pairs.
        if parts.len() < 8 || !parts.len().is_multiple_of(2) {
            return Err(Invalid::new(SHAPE));
        }
        if !parts[0].eq_ignore_ascii_case("subscriptions")
            || !parts[2].eq_ignore_ascii_case("resourceGroups")
            || !parts[4].eq_ignore_ascii_case("providers")
        {
            return Err(Invalid::new(SHAPE));
        }
        let subscription = SubscriptionId::parse(parts[1])?;
        let resource_group = ResourceGroupName::parse(parts[3])?;
        let namespace = parts[5];
        if !is_namespace(namespace) {
            return Err(Invalid::new(format!(
                "'{namespace}' is not a resource provider namespace like Microsoft.Compute"
            )));
        }
        let mut segments = Vec::with_capacity((parts.len() - 6) / 2);
        for pair in parts[6..].chunks(2) {
            let (kind, name) = (pair[0], pair[1]);
            if !is_identifier(kind) {
                return Err(Invalid::new(format!("'{kind}' is not a resource type")));
            }
            if !is_resource_name(name) {
                return Err(Invalid::new(format!(
                    "'{name}' is not a valid resource name"
                )));
            }
            segments.push((kind.to_owned(), name.to_owned()));
        }
        Ok(Self {
            subscription,
            resource_group,
            namespace: namespace.to_owned(),
            segments,
        })
    }

    /// The subscription the resource lives in.
    pub fn subscription(&self) -> SubscriptionId {
        self.subscription
    }

    /// The resource group the resource lives in.
    pub fn resource_group(&self) -> &ResourceGroupName {
        &self.resource_group
    }

    /// The resource provider namespace, e.g. `Microsoft.Compute`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The full type, e.g. `Microsoft.Compute/galleries/images/versions`.
    pub fn resource_type(&self) -> String {
        let mut t = self.namespace.clone();
        for (kind, _) in &self.segments {
            t.push('/');
            t.push_str(kind);
        }
        t
    }

    /// The innermost resource's name.
    pub fn name(&self) -> &str {
        self.segments.last().map_or("", |(_, n)| n)
    }

    /// The id of the enclosing resource (`None` for a top-level resource).
    pub fn parent(&self) -> Option<Self> {
        (self.segments.len() > 1).then(|| Self {
            segments: self.segments[..self.segments.len() - 1].to_vec(),
            ..self.clone()
        })
    }

    /// The id of the resource group that holds this resource.
    pub fn resource_group_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription, self.resource_group
        )
    }

    /// Lowercased, for comparisons and keys.
    pub fn canonical(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }

    fn segment_types_are(&self, namespace: &str, kinds: &[&str]) -> bool {
        self.namespace.eq_ignore_ascii_case(namespace)
            && self.segments.len() == kinds.len()
            && self
                .segments
                .iter()
                .zip(kinds)
                .all(|((k, _), want)| k.eq_ignore_ascii_case(want))
    }
}

impl PartialEq for ResourceId {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Eq for ResourceId {}

impl std::hash::Hash for ResourceId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical().hash(state);
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "/subscriptions/{}/resourceGroups/{}/providers/{}",
            self.subscription, self.resource_group, self.namespace
        )?;
        for (kind, name) in &self.segments {
            write!(f, "/{kind}/{name}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({self})")
    }
}

/// A Compute Gallery image version id:
/// `.../providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{major.minor.patch}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImageVersionId(ResourceId);

fn is_gallery_name(s: &str) -> bool {
    // Letters and digits, with '_' and '.' allowed in the middle; up to 80 characters.
    s.len() <= 80
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn is_image_definition_name(s: &str) -> bool {
    // Letters, digits, '_', '-', '.'; up to 80; not starting or ending with '.'.
    s.len() <= 80
        && !s.starts_with('.')
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_image_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && p.parse::<i32>().is_ok()
        })
}

impl ImageVersionId {
    /// Parses and checks that the id names a gallery image version.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let id = ResourceId::parse(s)?;
        if !id.segment_types_are("Microsoft.Compute", &["galleries", "images", "versions"]) {
            return Err(Invalid::new(
                "the image must be a gallery image version: .../providers/Microsoft.Compute/galleries/{gallery}/images/{definition}/versions/{version}",
            ));
        }
        let [(_, gallery), (_, image), (_, version)] = &id.segments[..] else {
            return Err(Invalid::new(
                "the image id has the wrong number of segments",
            ));
        };
        if !is_gallery_name(gallery) {
            return Err(Invalid::new(format!(
                "'{gallery}' is not a valid gallery name"
            )));
        }
        if !is_image_definition_name(image) {
            return Err(Invalid::new(format!(
                "'{image}' is not a valid image definition name"
            )));
        }
        if !is_image_version(version) {
            return Err(Invalid::new(format!(
                "'{version}' is not an image version; versions look like 1.0.0"
            )));
        }
        Ok(Self(id))
    }

    /// The id as a generic resource id.
    pub fn as_resource_id(&self) -> &ResourceId {
        &self.0
    }

    /// The gallery's id.
    pub fn gallery_id(&self) -> ResourceId {
        let mut id = self.0.clone();
        id.segments.truncate(1);
        id
    }

    /// The image definition's id (where Reader is granted: least privilege).
    pub fn image_definition_id(&self) -> ResourceId {
        let mut id = self.0.clone();
        id.segments.truncate(2);
        id
    }

    /// The gallery name.
    pub fn gallery(&self) -> &str {
        &self.0.segments[0].1
    }

    /// The image definition name.
    pub fn image(&self) -> &str {
        &self.0.segments[1].1
    }

    /// The version, e.g. `1.0.0`.
    pub fn version(&self) -> &str {
        &self.0.segments[2].1
    }
}

impl fmt::Display for ImageVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for ImageVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageVersionId({})", self.0)
    }
}

/// A subnet id: `.../providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SubnetId(ResourceId);

impl SubnetId {
    /// Parses and checks that the id names a subnet.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let id = ResourceId::parse(s)?;
        if !id.segment_types_are("Microsoft.Network", &["virtualNetworks", "subnets"]) {
            return Err(Invalid::new(
                "the subnet must be .../providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}",
            ));
        }
        Ok(Self(id))
    }

    /// The id as a generic resource id.
    pub fn as_resource_id(&self) -> &ResourceId {
        &self.0
    }
}

impl fmt::Display for SubnetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SubnetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubnetId({})", self.0)
    }
}

macro_rules! string_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(ResourceGroupName);
string_serde!(ResourceId);
string_serde!(ImageVersionId);
string_serde!(SubnetId);

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0";

    #[test]
    fn an_image_version_id_exposes_its_gallery_and_definition() {
        let id = ImageVersionId::parse(IMAGE).unwrap();
        assert_eq!(id.gallery(), "contosoGallery");
        assert_eq!(id.image(), "ubuntu-hardened");
        assert_eq!(id.version(), "1.0.0");
        assert!(
            id.image_definition_id()
                .to_string()
                .ends_with("/images/ubuntu-hardened")
        );
        assert!(
            id.gallery_id()
                .to_string()
                .ends_with("/galleries/contosoGallery")
        );
        assert_eq!(id.to_string(), IMAGE);
    }

    #[test]
    fn resource_ids_compare_case_insensitively() {
        let a = ResourceId::parse(IMAGE).unwrap();
        let b = ResourceId::parse(
            &IMAGE
                .to_uppercase()
                .replace("SUBSCRIPTIONS", "subscriptions"),
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for s in [
            "",
            "subscriptions/1a1a1a1a-1111-4111-8111-111111111111",
            "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/galleries/g",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg./providers/Microsoft.Compute/galleries/g",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg/providers/Compute/galleries/g",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.Compute/galleries",
            "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg/providers/Microsoft.Compute/galleries/",
        ] {
            assert!(ResourceId::parse(s).is_err(), "{s} was accepted");
        }
    }

    #[test]
    fn an_image_id_must_name_a_version_of_a_gallery_image() {
        let definition = IMAGE.trim_end_matches("/versions/1.0.0");
        assert!(ImageVersionId::parse(definition).is_err());
        assert!(ImageVersionId::parse(&IMAGE.replace("1.0.0", "latest")).is_err());
        assert!(ImageVersionId::parse(&IMAGE.replace("1.0.0", "1.0")).is_err());
        assert!(
            ImageVersionId::parse(&IMAGE.replace("Microsoft.Compute", "Microsoft.Storage"))
                .is_err()
        );
    }

    #[test]
    fn a_subnet_id_must_name_a_subnet() {
        let subnet = "/subscriptions/2b2b2b2b-2222-4222-8222-222222222222/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/default";
        assert!(SubnetId::parse(subnet).is_ok());
        assert!(SubnetId::parse(subnet.trim_end_matches("/subnets/default")).is_err());
    }
}
