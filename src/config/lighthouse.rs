//! Settings of the `lighthouse` strategy: how long a delegation may live, and whether the
//! gallery's resource group may hold more than the catalog.

use super::{ConfigError, Env, number, problem};

/// Days a delegation lives when the request does not say.
pub const LIGHTHOUSE_DAYS_DEFAULT: &str = "IMAGESHARE_LIGHTHOUSE_DAYS_DEFAULT";
/// The longest delegation a request may ask for, in days.
pub const LIGHTHOUSE_DAYS_MAX: &str = "IMAGESHARE_LIGHTHOUSE_DAYS_MAX";
/// `true` lets a delegation expose a resource group that holds resources outside the
/// catalog (the delegation grants Reader on the whole group).
pub const LIGHTHOUSE_ALLOW_OTHER_RESOURCES: &str = "IMAGESHARE_LIGHTHOUSE_ALLOW_OTHER_RESOURCES";

/// The `lighthouse` strategy's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LighthouseSettings {
    /// A request's lifetime when it names none.
    pub default_days: u32,
    /// The longest lifetime a request may name.
    pub max_days: u32,
    /// Delegate even when the gallery's resource group holds resources outside the catalog.
    pub allow_other_resources: bool,
}

impl Default for LighthouseSettings {
    fn default() -> Self {
        Self {
            default_days: 7,
            max_days: 30,
            allow_other_resources: false,
        }
    }
}

impl LighthouseSettings {
    pub(super) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let (default_days, max_days) = lifetime(
            env,
            (LIGHTHOUSE_DAYS_DEFAULT, d.default_days),
            (LIGHTHOUSE_DAYS_MAX, d.max_days),
        )?;
        let allow_other_resources = match env
            .var(LIGHTHOUSE_ALLOW_OTHER_RESOURCES)
            .as_deref()
            .map(str::trim)
        {
            None => d.allow_other_resources,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(other) => {
                return Err(problem(
                    LIGHTHOUSE_ALLOW_OTHER_RESOURCES,
                    format!("'{other}' is not 'true' or 'false'"),
                ));
            }
        };
        Ok(Self {
            default_days,
            max_days,
            allow_other_resources,
        })
    }
}

/// A strategy's lifetime settings: the default and the maximum, in days (1-365 each), the
/// default lowered with a lower maximum unless set, and never above it.
pub(super) fn lifetime(
    env: &Env,
    (default_name, default_days): (&'static str, u32),
    (max_name, max_days): (&'static str, u32),
) -> Result<(u32, u32), ConfigError> {
    let max = days(number(env, max_name, max_days.into(), 1..=365)?);
    let default = days(number(
        env,
        default_name,
        default_days.min(max).into(),
        1..=365,
    )?);
    if default > max {
        return Err(problem(
            default_name,
            format!("must be at most {max_name} ({max} days)"),
        ));
    }
    Ok((default, max))
}

/// The ranges above keep every value far inside `u32`.
fn days(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_lifetime_longer_than_the_maximum_is_refused() {
        let env = Env::from_pairs([(LIGHTHOUSE_DAYS_DEFAULT, "40"), (LIGHTHOUSE_DAYS_MAX, "30")]);
        let error = LighthouseSettings::from_env(&env).unwrap_err();
        assert_eq!(error.name, LIGHTHOUSE_DAYS_DEFAULT);
    }

    #[test]
    fn a_lower_maximum_lowers_the_default_lifetime_with_it() {
        let env = Env::from_pairs([(LIGHTHOUSE_DAYS_MAX, "3")]);
        let settings = LighthouseSettings::from_env(&env).unwrap();
        assert_eq!((settings.default_days, settings.max_days), (3, 3));
    }
}
