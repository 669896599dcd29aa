//! The audit trail (issue 25 §2): every security event goes to the durable hash chain in the
//! database ([`mcp_auth_core::store::AuditLog`], table `audit_events`) and, when configured, as
//! one JSON line to a file or standard output (`[audit] file`). [`verify`] re-computes the chain
//! and names the first broken link; the background purge prunes events older than
//! `[audit] keep_days` and records the prune.

mod lines;
mod prune;
mod trail;
pub mod verify;

pub use lines::JsonLines;
pub use trail::AuditTrail;
pub use verify::{BrokenLink, verify};

/// Default retention of audit events, days (`[audit] keep_days`).
pub const DEFAULT_KEEP_DAYS: u32 = 400;
