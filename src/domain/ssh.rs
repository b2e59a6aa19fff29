//! The SSH public key put on the VM.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Invalid;

/// An OpenSSH public key line (`ssh-rsa AAAA... comment`) of a type Azure Linux VMs accept:
/// RSA of at least 2048 bits, or Ed25519.
///
/// The base64 blob is decoded and its inner structure checked, so a truncated or pasted-wrong
/// key fails here rather than at VM provisioning, after the image share was set up.
#[derive(Clone, PartialEq, Eq)]
pub struct SshPublicKey(String);

const MAX_LINE: usize = 8 * 1024;
const MIN_RSA_BITS: usize = 2048;

/// Reads one SSH wire-format `string` (u32 big-endian length + bytes).
fn read_string<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    *blob = rest;
    Some(value)
}

/// Bits in an SSH `mpint` (big-endian two's complement, leading zero byte for positives).
fn mpint_bits(bytes: &[u8]) -> usize {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

impl SshPublicKey {
    /// Validates a public key line.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.len() > MAX_LINE {
            return Err(Invalid::new("an SSH public key is at most 8 KiB"));
        }
        if s.contains(['\n', '\r']) {
            return Err(Invalid::new("an SSH public key is a single line"));
        }
        if s.starts_with("-----BEGIN") {
            return Err(Invalid::new(
                "this is a PEM key; give the OpenSSH public key line (ssh-rsa AAAA... or ssh-ed25519 AAAA...)",
            ));
        }
        let mut fields = s.split_ascii_whitespace();
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            return Err(Invalid::new(
                "an SSH public key looks like 'ssh-ed25519 AAAA... comment'",
            ));
        };
        if !matches!(kind, "ssh-rsa" | "ssh-ed25519") {
            return Err(Invalid::new(format!(
                "'{kind}' keys are not supported by Azure Linux VMs; use ssh-rsa (2048 bits or more) or ssh-ed25519"
            )));
        }
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| Invalid::new("the SSH public key's base64 part does not decode"))?;
        let mut rest = blob.as_slice();
        let corrupt = || Invalid::new("the SSH public key's data is truncated or corrupt");
        if read_string(&mut rest).ok_or_else(corrupt)? != kind.as_bytes() {
            return Err(Invalid::new(
                "the SSH public key's type does not match its data",
            ));
        }
        match kind {
            "ssh-rsa" => {
                let _exponent = read_string(&mut rest).ok_or_else(corrupt)?;
                let modulus = read_string(&mut rest).ok_or_else(corrupt)?;
                let bits = mpint_bits(modulus);
                if bits < MIN_RSA_BITS {
                    return Err(Invalid::new(format!(
                        "RSA keys must be at least {MIN_RSA_BITS} bits; this one has {bits}"
                    )));
                }
            }
            _ => {
                if read_string(&mut rest).ok_or_else(corrupt)?.len() != 32 {
                    return Err(corrupt());
                }
            }
        }
        if !rest.is_empty() {
            return Err(corrupt());
        }
        Ok(Self(s.to_owned()))
    }

    /// The key line.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A public key is not a secret, but it is long; the type and a prefix identify it.
        let shown: String = self.0.chars().take(24).collect();
        write!(f, "SshPublicKey({shown}...)")
    }
}

impl Serialize for SshPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SshPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMOVl3tuCvFLjCzvcWs4d1POvKZ4Mjxrg/KynhsrWpD2 ops@fabrikam";
    const RSA_2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC6br6Iou+5f7RQF9duIqjQxzuM2uqZTybjc6YGTXj1IntNA9xJX4sW2tHN+nTRr4RTusD1KP+LhF5RdJdlkILnVyaQkXMnZ0tOPIjgnXdj75rSpRMu0YsmezebrjWNM5Ztjmh4uNR5r7kFK6mOoFdDM54mwRexwcKQaHcb/f3um7T0hlbHIlZSztMamYw7r3zw28sJEwxjkF4kQJLZrEHA/Hj72huisdEMUvmKYkKeHP5jS54EwquFD7zSuR9X4fTp555a12Tk2XrUNtCsL0QIq6/HJuRGtgHL4hTiM5C+gJTNCkiYXmaoM3iIxHxas5DJ521QquWt9SCMjCIC88xn ops@fabrikam";
    const RSA_1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsfIE/B4Ek39lPnhlTvViaGIvlMODbvs8xFyT+XfTWHXZOYgl/l/RTrrMEb649EV8gyBSEOTsYeey/GbCS7n+HtbNGxj+Hq9u/77iDrT+UzPeLw7iNn3k9Ox0kB5OFGawhf4mroXnA4NUmHrk95ivQgWpluApUSntWYgdajETwVQ== root@vm";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNOQlpoew5Hq3iPmat9jR8/Y6WSek1k16hG1QvnXfLuQz4sy4kvAwRuatq6Uwf0KKEbIT3+AdvnY64+75W6qZj4= root@vm";

    #[test]
    fn ed25519_and_large_rsa_keys_are_accepted() {
        assert!(SshPublicKey::parse(ED25519).is_ok());
        assert!(SshPublicKey::parse(RSA_2048).is_ok());
    }

    #[test]
    fn short_rsa_keys_are_refused_with_their_size() {
        let err = SshPublicKey::parse(RSA_1024).unwrap_err();
        assert!(err.0.contains("1024"), "{err}");
    }

    #[test]
    fn unsupported_truncated_and_mislabelled_keys_are_refused() {
        assert!(SshPublicKey::parse(ECDSA).is_err());
        assert!(SshPublicKey::parse(&ED25519[..60]).is_err());
        assert!(SshPublicKey::parse(&ED25519.replace("ssh-ed25519", "ssh-rsa")).is_err());
        assert!(SshPublicKey::parse("ssh-ed25519 not-base64!").is_err());
        assert!(SshPublicKey::parse("-----BEGIN PUBLIC KEY-----").is_err());
        assert!(SshPublicKey::parse("").is_err());
    }
}
