//! What the consumer asked the VM to be: name, size, region and the Linux admin account.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Invalid;

/// A Linux VM name. It is also the VM's computer name, so it follows the stricter of the two
/// rules: 1-64 characters, letters, digits and hyphens, not starting or ending with a hyphen,
/// not only digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VmName(String);

impl VmName {
    /// Validates a VM name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 64 {
            return Err(Invalid::new("a VM name is 1 to 64 characters long"));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Invalid::new(
                "a VM name may only contain letters, digits and hyphens (it is also the computer name)",
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(Invalid::new("a VM name cannot start or end with a hyphen"));
        }
        if s.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid::new("a VM name cannot be only digits"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A VM size such as `Standard_D2s_v5`. Whether the size exists in the region is for ARM to
/// say; we check the syntax so that typos fail before anything is created.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VmSize(String);

impl VmSize {
    /// Validates a VM size name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let tier_ok = s
            .strip_prefix("Standard_")
            .or_else(|| s.strip_prefix("Basic_"));
        match tier_ok {
            Some(rest)
                if !rest.is_empty()
                    && s.len() <= 64
                    && rest.starts_with(|c: char| c.is_ascii_alphabetic())
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Ok(Self(s.to_owned()))
            }
            _ => Err(Invalid::new("a VM size looks like Standard_D2s_v5")),
        }
    }

    /// The size name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Azure region in its programmatic form (`eastus`, `westeurope`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Location(String);

impl Location {
    /// Validates a region name. Display names ("East US") are refused with a hint, because
    /// ARM's `location` fields take the short form.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            let hint = s.to_ascii_lowercase().replace(' ', "");
            Err(Invalid::new(format!(
                "a location is a region's short name in lowercase, like eastus (did you mean '{hint}'?)"
            )))
        }
    }

    /// Normalises a region display name as Compute returns it in `targetRegions[].name`
    /// ("East US" -> "eastus").
    pub fn from_display_name(name: &str) -> Option<Self> {
        Self::parse(&name.to_ascii_lowercase().replace(' ', "")).ok()
    }

    /// The short name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Names Azure refuses as Linux admin usernames.
const RESERVED_USERNAMES: &[&str] = &[
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin",
    "admin1",
    "admin2",
    "administrator",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test",
    "test1",
    "test2",
    "test3",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
];

/// The Linux admin account: 1-64 characters, lowercase letters, digits, `_` and `-`, starting
/// with a letter or `_`, and not one of the names Azure reserves.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AdminUsername(String);

impl AdminUsername {
    /// Validates an admin username.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > 64 {
            return Err(Invalid::new("an admin username is 1 to 64 characters long"));
        }
        let first_ok = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
        let rest_ok = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !first_ok || !rest_ok {
            return Err(Invalid::new(
                "an admin username uses lowercase letters, digits, '_' and '-', and starts with a letter or '_'",
            ));
        }
        if RESERVED_USERNAMES.contains(&s) {
            return Err(Invalid::new(format!(
                "'{s}' is a username Azure does not allow"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_traits {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
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

string_newtype_traits!(VmName);
string_newtype_traits!(VmSize);
string_newtype_traits!(Location);
string_newtype_traits!(AdminUsername);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_names_follow_the_computer_name_rules() {
        assert!(VmName::parse("vm-fabrikam-01").is_ok());
        for bad in [
            "",
            "-vm",
            "vm-",
            "vm_1",
            "vm.1",
            "12345",
            &"a".repeat(65),
            "vm 1",
        ] {
            assert!(VmName::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn sizes_need_a_tier_prefix() {
        assert!(VmSize::parse("Standard_D2s_v5").is_ok());
        assert!(VmSize::parse("Basic_A0").is_ok());
        for bad in ["D2s_v5", "Standard_", "standard_d2s_v5", "Standard_D2s v5"] {
            assert!(VmSize::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_display_name_location_is_refused_with_a_hint() {
        let err = Location::parse("East US").unwrap_err();
        assert!(err.0.contains("eastus"), "{err}");
        assert_eq!(
            Location::from_display_name("West Europe").unwrap().as_str(),
            "westeurope"
        );
    }

    #[test]
    fn reserved_admin_names_are_refused() {
        assert!(AdminUsername::parse("azureuser").is_ok());
        for bad in ["admin", "root", "Azureuser", "1user", "", "a b"] {
            assert!(AdminUsername::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
