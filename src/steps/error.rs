//! Step errors: retryable by default, terminal by explicit choice.

use std::fmt;

/// Why a step run did not succeed.
pub enum StepError {
    /// Worth another try: the host abandons the message and Service Bus redelivers it.
    Retryable(anyhow::Error),
    /// Will never succeed: recorded on the request as `Failed` with this reason for a person.
    Terminal(String),
}

impl StepError {
    /// A terminal failure with a reason a person can act on.
    pub fn terminal(reason: impl Into<String>) -> Self {
        Self::Terminal(reason.into())
    }

    /// True for errors worth retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

/// Any error converts into a retryable one, so `?` retries unless a step says otherwise.
impl<E: Into<anyhow::Error>> From<E> for StepError {
    fn from(error: E) -> Self {
        Self::Retryable(error.into())
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(e) => write!(f, "Retryable({e:#})"),
            Self::Terminal(reason) => write!(f, "Terminal({reason})"),
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retryable(e) => write!(f, "{e:#}"),
            Self::Terminal(reason) => f.write_str(reason),
        }
    }
}
