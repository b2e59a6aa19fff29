//! The consumer admin's contact address.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Invalid;

/// An e-mail address in the plain `local@domain.tld` form a directory would hold.
///
/// Deliberately narrower than RFC 5322 (no quoted local parts, no comments, no IP literals):
/// the address ends up in a Graph `sendMail` recipient and in an HTML page.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Validates an address.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("an e-mail address looks like admin@fabrikam.com");
        if s.len() > 254 {
            return Err(Invalid::new("an e-mail address is at most 254 characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_accepted() {
        assert!(EmailAddress::parse("admin@fabrikam.onmicrosoft.com").is_ok());
        assert!(EmailAddress::parse("first.last+it@fabrikam.com").is_ok());
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "admin",
            "admin@",
            "@fabrikam.com",
            "admin@fabrikam",
            "a..b@x.com",
            "admin@-x.com",
            "admin@x.c0m",
            "<script>@x.com",
            "admin @x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
