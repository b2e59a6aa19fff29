//! Settings of the `rbac-guest` strategy: how long the invited guest keeps Reader on the
//! image.

use super::{ConfigError, Env, lighthouse::lifetime};

/// Days the guest's access lasts when the request does not say.
pub const RBAC_GUEST_DAYS_DEFAULT: &str = "IMAGESHARE_RBAC_GUEST_DAYS_DEFAULT";
/// The longest guest access a request may ask for, in days.
pub const RBAC_GUEST_DAYS_MAX: &str = "IMAGESHARE_RBAC_GUEST_DAYS_MAX";

/// The `rbac-guest` strategy's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RbacGuestSettings {
    /// A request's lifetime when it names none.
    pub default_days: u32,
    /// The longest lifetime a request may name.
    pub max_days: u32,
}

impl Default for RbacGuestSettings {
    /// Reader on one image definition for one named user: as narrow as sharing gets.
    fn default() -> Self {
        Self {
            default_days: 30,
            max_days: 365,
        }
    }
}

impl RbacGuestSettings {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let (default_days, max_days) = lifetime(
            env,
            (RBAC_GUEST_DAYS_DEFAULT, d.default_days),
            (RBAC_GUEST_DAYS_MAX, d.max_days),
        )?;
        Ok(Self {
            default_days,
            max_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_access_lasts_thirty_days_unless_set_and_never_beyond_its_maximum() {
        let settings = RbacGuestSettings::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!((settings.default_days, settings.max_days), (30, 365));
        let env = Env::from_pairs([(RBAC_GUEST_DAYS_DEFAULT, "90"), (RBAC_GUEST_DAYS_MAX, "60")]);
        assert_eq!(
            RbacGuestSettings::from_env(&env).unwrap_err().name,
            RBAC_GUEST_DAYS_DEFAULT
        );
    }
}
