//! imageshare
