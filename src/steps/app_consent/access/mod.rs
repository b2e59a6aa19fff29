//! Taking access back (DESIGN §8), shared by RevokeAccess and ReleaseAccess: who else still
//! needs a tenant's app, credential and grants, the per-tenant lock that keeps a removal and
//! a new request's IssueCredentials apart, and the removals themselves.

pub(super) mod consumer;
pub(super) mod holders;
pub(super) mod owner;
