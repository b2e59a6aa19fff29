//! Microsoft Graph v1.0 (`graph.microsoft.com`).

pub mod model;
