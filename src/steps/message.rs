//! The message that triggers a step lives with the domain (the outbox holds it); the steps
//! re-export it under its old name.

pub use crate::domain::StepMessage;
