//! Every rate limit of the server, in one place (spec SEC-06): the [`Limiter`] they count with,
//! the counters shared by every node of a cluster ([`SharedCounters`]; issue 13: "rate-limit
//! counters that must hold across nodes"), and the limits built on them:
//!
//! | Module | Limit |
//! |---|---|
//! | [`limiter`] | [`Limiter`]: `limit` events per key per fixed window, in memory or shared |
//! | [`shared`] | [`SharedCounters`], [`window_bounds`], [`MemorySharedCounters`] |
//! | [`client_auth`] | failed client authentications ([`ClientAuthThrottle`]) |
//! | [`sign_in`] | sign-in failures ([`SignInLimits`]) |
//! | [`token_client`] | token requests per client ([`ClientTokenLimit`], per node) |
//!
//! Registrations per source and the connect pages count through a [`Limiter`] held by the
//! server ([`crate::server`]). The in-memory fixed-window counter is
//! [`mcp_auth_core::rate_limit::RateLimiter`] (shared with the CIMD resolver's per-host fetch
//! limit); the PostgreSQL counters are `crate::storage::postgres::PgSharedCounters`.
//!
//! Three limits count through a [`Limiter`]: failed client authentications per (client,
//! source) pair and the global backstop ([`crate::client_auth::ClientAuthThrottle`]),
//! registrations per source (`/register`), and sign-in failures per source, per (username,
//! source) pair and per username ([`sign_in::SignInLimits`]).
//!
//! - Without shared counters (SQLite, or a server built without
//!   [`crate::server::AuthorizationServerBuilder::shared_counters`]) a [`Limiter`] is the
//!   in-memory [`RateLimiter`]: each node counts its own traffic.
//! - With shared counters (`auth-server serve` on PostgreSQL: [`crate::storage::postgres::PgSharedCounters`])
//!   every node adds to and reads the same fixed-window counts, so failures spread over several
//!   nodes reach a limit together.
//!
//! Only events (failures, registrations) write to the shared counters. The checks made before
//! every client authentication and sign-in read them through a per-node cache of at most
//! [`SHARED_READ_TTL`] second, so the success path does not wait for the database: a node sees
//! the events counted by the others at most that late, and always sees its own at once (each
//! write returns the new total, which refreshes the cache).
//!
//! A shared counter that cannot be read or written (the database is unreachable) never refuses:
//! the limiter answers "not limited" and logs a warning, so a counter outage cannot lock out
//! correct credentials. (A node that lost its database cannot check credentials anyway; it
//! answers `503`.)

pub mod client_auth;
pub mod limiter;
pub mod shared;
pub mod sign_in;
pub mod token_client;

pub use client_auth::ClientAuthThrottle;
pub use limiter::{Limiter, SHARED_READ_TTL};
pub use shared::{MemorySharedCounters, SharedCounters, window_bounds};
pub use sign_in::SignInLimits;
pub use token_client::ClientTokenLimit;
