//! Endpoint logic, free of HTTP types: each file is one endpoint's method on
//! [`crate::AuthorizationServer`].

pub mod account;
pub mod authorize;
pub(crate) mod cimd_seen;
mod client_authentication;
pub mod connect_callback;
pub mod connect_decision;
pub mod connect_elicitation;
pub mod connect_link;
pub mod connect_token;
mod connection_broker;
pub mod consent;
pub(crate) mod dpop;
pub mod health;
pub mod introspect;
pub mod metadata;
pub mod password;
pub mod register;
mod register_dedupe;
pub mod revoke;
pub mod sign_in;
pub mod sign_in_guard;
pub(crate) mod subject_token;
pub mod token;
mod token_audit;
pub mod token_exchange;
pub mod unused_clients;
pub mod upstream_sign_in;
