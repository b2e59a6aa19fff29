//! How long a share of the strategies with a lifetime lasts: the default and the maximum a
//! request may ask for, in days (`direct-share`, `rbac-guest`; `lighthouse` adds its own
//! preflight setting, see `lighthouse.rs`).

use super::{ConfigError, Env, lighthouse::lifetime};

/// Days a direct share lasts when the request does not say.
pub const DIRECT_SHARE_DAYS_DEFAULT: &str = "IMAGESHARE_DIRECT_SHARE_DAYS_DEFAULT";
/// The longest direct share a request may ask for, in days.
pub const DIRECT_SHARE_DAYS_MAX: &str = "IMAGESHARE_DIRECT_SHARE_DAYS_MAX";
/// Days an invited guest keeps Reader when the request does not say.
pub const RBAC_GUEST_DAYS_DEFAULT: &str = "IMAGESHARE_RBAC_GUEST_DAYS_DEFAULT";
/// The longest guest access a request may ask for, in days.
pub const RBAC_GUEST_DAYS_MAX: &str = "IMAGESHARE_RBAC_GUEST_DAYS_MAX";

/// A strategy's lifetime settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifetimeSettings {
    /// A request's lifetime when it names none.
    pub default_days: u32,
    /// The longest lifetime a request may name.
    pub max_days: u32,
}

impl LifetimeSettings {
    /// A direct share exposes only this gallery's images, read-only, to one tenant, and a
    /// guest gets Reader on one image definition: both default to 30 days, at most a year
    /// (longer than a delegation of a whole resource group).
    pub const DEFAULT: Self = Self {
        default_days: 30,
        max_days: 365,
    };

    /// `direct-share`'s, from `IMAGESHARE_DIRECT_SHARE_DAYS_*`.
    pub(super) fn direct_share(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env, DIRECT_SHARE_DAYS_DEFAULT, DIRECT_SHARE_DAYS_MAX)
    }

    /// `rbac-guest`'s, from `IMAGESHARE_RBAC_GUEST_DAYS_*`.
    pub(super) fn rbac_guest(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env, RBAC_GUEST_DAYS_DEFAULT, RBAC_GUEST_DAYS_MAX)
    }

    fn from_env(
        env: &Env,
        default_name: &'static str,
        max_name: &'static str,
    ) -> Result<Self, ConfigError> {
        let d = Self::DEFAULT;
        let (default_days, max_days) =
            lifetime(env, (default_name, d.default_days), (max_name, d.max_days))?;
        Ok(Self {
            default_days,
            max_days,
        })
    }
}

impl Default for LifetimeSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_share_lasts_thirty_days_unless_set_and_never_beyond_its_maximum() {
        let settings = LifetimeSettings::direct_share(&Env::from_pairs([])).unwrap();
        assert_eq!((settings.default_days, settings.max_days), (30, 365));
        let env = Env::from_pairs([
            (DIRECT_SHARE_DAYS_DEFAULT, "90"),
            (DIRECT_SHARE_DAYS_MAX, "60"),
        ]);
        assert_eq!(
            LifetimeSettings::direct_share(&env).unwrap_err().name,
            DIRECT_SHARE_DAYS_DEFAULT
        );
    }

    #[test]
    fn a_guest_access_reads_its_own_settings() {
        let env = Env::from_pairs([(RBAC_GUEST_DAYS_MAX, "7"), (DIRECT_SHARE_DAYS_MAX, "90")]);
        let guest = LifetimeSettings::rbac_guest(&env).unwrap();
        assert_eq!((guest.default_days, guest.max_days), (7, 7));
        let env = Env::from_pairs([(RBAC_GUEST_DAYS_DEFAULT, "400")]);
        assert_eq!(
            LifetimeSettings::rbac_guest(&env).unwrap_err().name,
            RBAC_GUEST_DAYS_DEFAULT
        );
    }
}
