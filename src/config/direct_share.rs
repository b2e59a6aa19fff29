//! Settings of the `direct-share` strategy: how long the consumer's tenant stays in the
//! gallery's sharing profile.

use super::{ConfigError, Env, lighthouse::lifetime};

/// Days a direct share lasts when the request does not say.
pub const DIRECT_SHARE_DAYS_DEFAULT: &str = "IMAGESHARE_DIRECT_SHARE_DAYS_DEFAULT";
/// The longest direct share a request may ask for, in days.
pub const DIRECT_SHARE_DAYS_MAX: &str = "IMAGESHARE_DIRECT_SHARE_DAYS_MAX";

/// The `direct-share` strategy's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectShareSettings {
    /// A request's lifetime when it names none.
    pub default_days: u32,
    /// The longest lifetime a request may name.
    pub max_days: u32,
}

impl Default for DirectShareSettings {
    /// A direct share exposes only this gallery's images, read-only, to one tenant: longer
    /// than a delegation of a whole resource group by default.
    fn default() -> Self {
        Self {
            default_days: 30,
            max_days: 365,
        }
    }
}

impl DirectShareSettings {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let (default_days, max_days) = lifetime(
            env,
            (DIRECT_SHARE_DAYS_DEFAULT, d.default_days),
            (DIRECT_SHARE_DAYS_MAX, d.max_days),
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
    fn a_direct_share_lasts_thirty_days_unless_set_and_never_beyond_its_maximum() {
        let settings = DirectShareSettings::from_env(&Env::from_pairs([])).unwrap();
        assert_eq!((settings.default_days, settings.max_days), (30, 365));
        let env = Env::from_pairs([
            (DIRECT_SHARE_DAYS_DEFAULT, "90"),
            (DIRECT_SHARE_DAYS_MAX, "60"),
        ]);
        assert_eq!(
            DirectShareSettings::from_env(&env).unwrap_err().name,
            DIRECT_SHARE_DAYS_DEFAULT
        );
    }
}
