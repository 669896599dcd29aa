//! Extension seams: the traits an extension implements and the [`Registry`] it installs into.
//!
//! A grant handler *decides* ([`GrantDecision`]); only the [`TokenIssuer`] *mints*, so every grant
//! yields the same token shape. Advertised metadata lists are generated from the registry, so
//! metadata cannot drift from behaviour.

mod audit;
mod claims;
mod client_auth;
mod client_resolver;
mod extension_config;
mod grant;
mod jwt_bearer;
mod policy;
mod registry;
mod scope_policy;
mod services;
mod subject;
mod token_exchange;
mod token_issuer;

pub use audit::{AuditEvent, AuditSink, NoAudit};
pub use claims::{
    ClaimError, ExtraClaims, RESERVED_CLAIMS, RESERVED_RESPONSE_MEMBERS, ResponseMembers,
    ResponseTokenType,
};
pub use client_auth::{AuthContext, ClientAuthenticator, PresentedCredentials};
pub use client_resolver::ClientResolver;
pub use extension_config::{ExtensionConfigError, ExtensionFactory, ExtensionSection};
pub use grant::{
    ClientAuthPolicy, ClientSourceRefused, GrantContext, GrantDecision, GrantHandler,
    IdTokenRequest, IssuedTokens, RedeemedAssertion, RefreshPolicy, RequestedResources,
    SingleResourceError,
};
pub use jwt_bearer::{AssertionPeek, AssertionRedeemer, JwtBearerGrant, PeekError};
pub use policy::{
    BoundBy, OmittedScope, PolicyError, ResourceHint, ScopeCeiling, ScopeNotGranted, narrow_scope,
    resolve_resource, resolve_scope, select_resource,
};
pub use registry::{Registry, RegistryError, ServerExtension};
pub use scope_policy::{ScopePolicy, StrictScopePolicy};
pub use services::{ExtensionServices, LocalKeys, SharedServices};
pub use subject::{
    ISS_SUB_FORMAT, MalformedSubjectId, QualifiedSubject, SUBJECT_ID_CLAIM,
    WORKLOAD_SUBJECT_NAMESPACE,
};
pub use token_exchange::{
    ACCESS_TOKEN_TYPE, ExchangeOutcome, ExchangeRequestError, ExchangeResponse, ExchangeStatus,
    TokenExchangeGrant, TokenExchangeRequest, TokenExchanger,
};
pub use token_issuer::{
    AccessTokenClaims, ClientAssertionClaims, Confirmation, IdTokenClaims, TokenIssuer,
    TokenProfile,
};
