//! Microsoft.Compute: galleries (images, versions, direct sharing), managed images, VMs.

pub mod discovery;
pub mod gallery;
pub mod image_ref;
pub mod instance_view;
pub mod invites;
pub mod model;
pub mod shared;
pub mod vm;

/// Region display names as Compute reports them in `targetRegions[].name`.
pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("centralus", "Central US"),
    ("northeurope", "North Europe"),
    ("westeurope", "West Europe"),
    ("uksouth", "UK South"),
    ("japaneast", "Japan East"),
    ("japanwest", "Japan West"),
    ("southeastasia", "Southeast Asia"),
    ("australiaeast", "Australia East"),
];

/// `East US` / `eastus` -> `eastus`.
pub fn region_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// `eastus` / `East US` -> `East US`.
pub fn region_display(name: &str) -> String {
    let k = region_key(name);
    REGIONS
        .iter()
        .find(|(short, _)| *short == k)
        .map_or_else(|| name.to_owned(), |(_, display)| (*display).to_owned())
}
