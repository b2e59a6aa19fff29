//! Which images may be shared: the operator's catalog, which is also the allow-list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ImageVersionId, Invalid};

/// How a request names its image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageRef {
    /// A full gallery image version id.
    Id(ImageVersionId),
    /// A name from the operator's catalog.
    Catalog(String),
}

/// The images this deployment may share, by catalog name.
///
/// An image is allowed if and only if it is in the catalog; a request may name it either way.
/// Keeping one list means the operator cannot publish a name for an image that is not allowed,
/// nor allow an image nobody can find.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageCatalog(BTreeMap<String, ImageVersionId>);

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// A catalog name that does not exist.
    #[error("there is no image named '{0}' in this deployment's catalog")]
    UnknownName(String),
    /// A valid id that is not in the catalog.
    #[error("image '{0}' is not in this deployment's allow-list")]
    NotInCatalog(String),
}

fn is_catalog_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
}

impl ImageCatalog {
    /// Parses the `IMAGESHARE_IMAGE_CATALOG` setting: a JSON object of name -> image version id.
    pub fn from_json(text: &str) -> Result<Self, Invalid> {
        let raw: BTreeMap<String, String> = serde_json::from_str(text).map_err(|e| {
            Invalid::new(format!(
                "the image catalog must be a JSON object of name to image version id: {e}"
            ))
        })?;
        let mut entries = BTreeMap::new();
        for (name, id) in raw {
            if !is_catalog_name(&name) {
                return Err(Invalid::new(format!(
                    "catalog name '{name}' must be 1-63 lowercase letters, digits, '-', '.' or '_'"
                )));
            }
            let id = ImageVersionId::parse(&id)
                .map_err(|e| Invalid::new(format!("catalog entry '{name}': {e}")))?;
            entries.insert(name, id);
        }
        Ok(Self(entries))
    }

    /// Every image version the catalog allows.
    pub fn versions(&self) -> impl Iterator<Item = &ImageVersionId> {
        self.0.values()
    }

    /// True when the catalog lists nothing (every request would be refused).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks syntax only: a catalog name must look like one.
    pub fn parse_name(s: &str) -> Result<String, Invalid> {
        if is_catalog_name(s) {
            Ok(s.to_owned())
        } else {
            Err(Invalid::new(
                "a catalog name is 1-63 lowercase letters, digits, '-', '.' or '_'",
            ))
        }
    }

    /// Resolves a reference to an allowed image version and its catalog name.
    pub fn resolve(&self, image: &ImageRef) -> Result<(ImageVersionId, String), NotAllowed> {
        match image {
            ImageRef::Catalog(name) => self
                .0
                .get(name)
                .map(|id| (id.clone(), name.clone()))
                .ok_or_else(|| NotAllowed::UnknownName(name.clone())),
            ImageRef::Id(id) => self
                .0
                .iter()
                .find(|(_, allowed)| *allowed == id)
                .map(|(name, allowed)| (allowed.clone(), name.clone()))
                .ok_or_else(|| NotAllowed::NotInCatalog(id.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "/subscriptions/1a1a1a1a-1111-4111-8111-111111111111/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/contosoGallery/images/ubuntu-hardened/versions/1.0.0";

    fn catalog() -> ImageCatalog {
        ImageCatalog::from_json(&format!(r#"{{"ubuntu-hardened":"{IMAGE}"}}"#)).unwrap()
    }

    #[test]
    fn an_image_can_be_named_by_catalog_name_or_by_id_in_any_case() {
        let by_name = catalog()
            .resolve(&ImageRef::Catalog("ubuntu-hardened".into()))
            .unwrap();
        let upper =
            ImageVersionId::parse(&IMAGE.replace("contosoGallery", "CONTOSOGALLERY")).unwrap();
        let by_id = catalog().resolve(&ImageRef::Id(upper)).unwrap();
        assert_eq!(by_name, by_id);
        assert_eq!(by_name.1, "ubuntu-hardened");
    }

    #[test]
    fn an_image_outside_the_catalog_is_not_allowed() {
        let other = ImageVersionId::parse(&IMAGE.replace("1.0.0", "2.0.0")).unwrap();
        assert!(matches!(
            catalog().resolve(&ImageRef::Id(other)),
            Err(NotAllowed::NotInCatalog(_))
        ));
        assert!(matches!(
            catalog().resolve(&ImageRef::Catalog("windows".into())),
            Err(NotAllowed::UnknownName(_))
        ));
    }

    #[test]
    fn a_catalog_with_a_bad_entry_is_refused_naming_it() {
        let err = ImageCatalog::from_json(r#"{"x":"/subscriptions/nope"}"#).unwrap_err();
        assert!(err.0.contains("'x'"), "{err}");
        assert!(ImageCatalog::from_json(r#"{"Bad Name":"x"}"#).is_err());
        assert!(ImageCatalog::from_json("[]").is_err());
    }
}
