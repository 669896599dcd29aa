use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::types::{ClientId, TokenEndpointAuthMethod};

use super::{
    AssertionRedeemer, ClientAuthenticator, ClientResolver, GrantHandler, JwtBearerGrant,
    TokenExchangeGrant, TokenExchanger,
};

/// A wiring mistake found while installing extensions; the server refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two handlers claim one `grant_type`.
    #[error("grant type {0} is registered twice")]
    DuplicateGrant(String),
    /// Two authenticators claim one method.
    #[error("client authentication method {0} is registered twice")]
    DuplicateAuthenticator(String),
    /// An extension tried to set a metadata member the core owns, or one already set.
    #[error("metadata member {0} is already set")]
    DuplicateMetadata(String),
    /// An extension's own check failed.
    #[error("extension {0}: {1}")]
    Extension(String, String),
    /// A grant's [`super::ClientAuthPolicy`] names a method no authenticator checks.
    #[error("grant type {grant} accepts {method}, but no authenticator checks it")]
    MissingAuthenticator {
        /// The grant type.
        grant: String,
        /// The method.
        method: String,
    },
    /// An authenticator advertises an algorithm that must never be accepted (`none`, or HMAC,
    /// whose key a public-key registry does not have; RFC 8725 §3.1, §3.2).
    #[error("signing algorithm {0} must not be advertised")]
    UnsafeAlgorithm(String),
    /// An extension's metadata member lists a grant type or method the registry has no handler
    /// or authenticator for.
    #[error("metadata member {member} lists {value}, which nothing handles")]
    Unhandled {
        /// The member.
        member: String,
        /// The listed value.
        value: String,
    },
}

/// Everything the token endpoint dispatches on. Built once at start-up, read-only afterwards.
#[derive(Default, Clone)]
pub struct Registry {
    grants: BTreeMap<String, Arc<dyn GrantHandler>>,
    authenticators: BTreeMap<TokenEndpointAuthMethod, Arc<dyn ClientAuthenticator>>,
    resolvers: Vec<Arc<dyn ClientResolver>>,
    metadata: serde_json::Map<String, serde_json::Value>,
    extensions: BTreeSet<String>,
    openid_connect: bool,
    token_exchange: Option<Arc<TokenExchangeGrant>>,
    jwt_bearer: Option<Arc<JwtBearerGrant>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("grants", &self.grants.keys().collect::<Vec<_>>())
            .field(
                "authenticators",
                &self.authenticators.keys().collect::<Vec<_>>(),
            )
            .field("resolvers", &self.resolvers.len())
            .field("metadata", &self.metadata)
            .field("extensions", &self.extensions)
            .field("token_exchange", &self.token_exchange)
            .field("jwt_bearer", &self.jwt_bearer)
            .finish()
    }
}

/// The members of RFC 8414 metadata the core generates; extensions may not set them directly.
const CORE_METADATA: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "response_types_supported",
    "code_challenge_methods_supported",
    "scopes_supported",
    "response_modes_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "authorization_response_iss_parameter_supported",
    // Generated from `add_extension_id`, so one extension cannot overwrite another's.
    "extensions_supported",
    // OpenID Connect Discovery members, generated when OpenID Connect is on.
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "claims_supported",
];

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a grant handler for its `grant_type`.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateGrant`] when the grant type already has a handler.
    pub fn add_grant(&mut self, handler: Arc<dyn GrantHandler>) -> Result<(), RegistryError> {
        let key = handler.grant_type().as_str().to_owned();
        if self.grants.contains_key(&key) {
            return Err(RegistryError::DuplicateGrant(key));
        }
        self.grants.insert(key, handler);
        Ok(())
    }

    /// Add an RFC 8693 token exchanger. The first one registers the token-exchange grant
    /// ([`TokenExchangeGrant`]), which dispatches to every exchanger added.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateGrant`] when another handler already serves
    /// `urn:ietf:params:oauth:grant-type:token-exchange` ([`Self::add_grant`]).
    pub fn add_token_exchanger(
        &mut self,
        exchanger: Arc<dyn TokenExchanger>,
    ) -> Result<(), RegistryError> {
        let key = crate::types::GrantType::TOKEN_EXCHANGE;
        let mut exchangers = match &self.token_exchange {
            Some(grant) => grant.exchangers().to_vec(),
            None if self.grants.contains_key(key) => {
                return Err(RegistryError::DuplicateGrant(key.to_owned()));
            }
            None => Vec::new(),
        };
        exchangers.push(exchanger);
        let grant = Arc::new(TokenExchangeGrant::new(exchangers));
        self.grants.insert(key.to_owned(), grant.clone());
        self.token_exchange = Some(grant);
        Ok(())
    }

    /// Add an RFC 7523 §2.1 assertion redeemer. The first one registers the JWT bearer grant
    /// ([`JwtBearerGrant`]), which routes each assertion to the one redeemer claiming it.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateGrant`] when another handler already serves
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` ([`Self::add_grant`]).
    pub fn add_assertion_redeemer(
        &mut self,
        redeemer: Arc<dyn AssertionRedeemer>,
    ) -> Result<(), RegistryError> {
        let key = crate::types::GrantType::JWT_BEARER;
        let mut redeemers = match &self.jwt_bearer {
            Some(grant) => grant.redeemers().to_vec(),
            None if self.grants.contains_key(key) => {
                return Err(RegistryError::DuplicateGrant(key.to_owned()));
            }
            None => Vec::new(),
        };
        redeemers.push(redeemer);
        let grant = Arc::new(JwtBearerGrant::new(redeemers));
        self.grants.insert(key.to_owned(), grant.clone());
        self.jwt_bearer = Some(grant);
        Ok(())
    }

    /// The token-exchange grant over the registered exchangers, when any is registered.
    pub fn token_exchange(&self) -> Option<&Arc<TokenExchangeGrant>> {
        self.token_exchange.as_ref()
    }

    /// Add a client authenticator for its method.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateAuthenticator`] when the method already has one.
    pub fn add_authenticator(
        &mut self,
        authenticator: Arc<dyn ClientAuthenticator>,
    ) -> Result<(), RegistryError> {
        let method = authenticator.method();
        if self.authenticators.contains_key(&method) {
            return Err(RegistryError::DuplicateAuthenticator(method.to_string()));
        }
        self.authenticators.insert(method, authenticator);
        Ok(())
    }

    /// Turn on OpenID Connect sign-in (OIDC Core §3.1): an authorization request whose `scope`
    /// holds `openid` gets an ID token from the token endpoint, and the discovery documents list
    /// the OpenID Connect members. Extensions that issue assertions about signed-in users (the
    /// Cross App Access IdP role) turn it on; so does the configuration.
    pub fn enable_openid_connect(&mut self) {
        self.openid_connect = true;
    }

    /// Whether OpenID Connect sign-in is on ([`Self::enable_openid_connect`]).
    pub fn openid_connect(&self) -> bool {
        self.openid_connect
    }

    /// Add a client resolver. Resolvers added earlier are asked first.
    pub fn add_resolver(&mut self, resolver: Arc<dyn ClientResolver>) {
        self.resolvers.push(resolver);
    }

    /// Add a member to the AS metadata document (e.g. `client_id_metadata_document_supported`).
    ///
    /// # Errors
    /// [`RegistryError::DuplicateMetadata`] for a core-generated member or one already set.
    pub fn add_metadata(
        &mut self,
        name: &str,
        value: serde_json::Value,
    ) -> Result<(), RegistryError> {
        if CORE_METADATA.contains(&name) || self.metadata.contains_key(name) {
            return Err(RegistryError::DuplicateMetadata(name.to_owned()));
        }
        self.metadata.insert(name.to_owned(), value);
        Ok(())
    }

    /// Declare an MCP extension identifier (SEP-2133), e.g.
    /// `io.modelcontextprotocol/oauth-client-credentials`.
    pub fn add_extension_id(&mut self, id: &str) {
        self.extensions.insert(id.to_owned());
    }

    /// The handler for `grant_type`.
    pub fn grant(&self, grant_type: &str) -> Option<&Arc<dyn GrantHandler>> {
        self.grants.get(grant_type)
    }

    /// The authenticator for `method`.
    pub fn authenticator(
        &self,
        method: TokenEndpointAuthMethod,
    ) -> Option<&Arc<dyn ClientAuthenticator>> {
        self.authenticators.get(&method)
    }

    /// The first resolver that handles `client_id`.
    pub fn resolver_for(&self, client_id: &ClientId) -> Option<&Arc<dyn ClientResolver>> {
        self.resolvers.iter().find(|r| r.handles(client_id))
    }

    /// Every grant handler, by `grant_type`.
    pub fn grants(&self) -> impl Iterator<Item = &Arc<dyn GrantHandler>> {
        self.grants.values()
    }

    /// Check the whole registry once every extension has installed; `build()` calls it.
    ///
    /// # Errors
    /// [`RegistryError::MissingAuthenticator`] when a grant's client-authentication policy
    /// names a method without authenticator; [`RegistryError::UnsafeAlgorithm`] when an
    /// advertised signing algorithm is `none` or `HS*`; [`RegistryError::Unhandled`] when an
    /// extension's `*grant_types*` or `*auth_methods*` metadata member lists something the
    /// registry does not handle.
    pub fn validate(&self) -> Result<(), RegistryError> {
        for (grant, handler) in &self.grants {
            for method in handler.client_authentication().methods() {
                if !self.authenticators.contains_key(&method) {
                    return Err(RegistryError::MissingAuthenticator {
                        grant: grant.clone(),
                        method: method.to_string(),
                    });
                }
            }
        }
        if let Some(weak) = self
            .signing_alg_values()
            .into_iter()
            .find(|a| a.eq_ignore_ascii_case("none") || a.to_ascii_uppercase().starts_with("HS"))
        {
            return Err(RegistryError::UnsafeAlgorithm(weak));
        }
        let methods = self.auth_methods();
        for (member, value) in &self.metadata {
            let known: Vec<String> = if member.contains("grant_types") {
                self.grants.keys().cloned().collect()
            } else if member.contains("auth_methods") {
                methods.clone()
            } else {
                continue;
            };
            for listed in value.as_array().into_iter().flatten() {
                let listed = listed.as_str().unwrap_or_default();
                if !known.iter().any(|k| k == listed) {
                    return Err(RegistryError::Unhandled {
                        member: member.clone(),
                        value: listed.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every registered `grant_type`, sorted: `grant_types_supported`.
    pub fn grant_types(&self) -> Vec<String> {
        self.grants.keys().cloned().collect()
    }

    /// Every registered method, sorted: `token_endpoint_auth_methods_supported`.
    pub fn auth_methods(&self) -> Vec<String> {
        self.authenticators
            .keys()
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    /// The union of the authenticators' signing algorithms:
    /// `token_endpoint_auth_signing_alg_values_supported`.
    pub fn signing_alg_values(&self) -> Vec<String> {
        let set: BTreeSet<String> = self
            .authenticators
            .values()
            .flat_map(|a| a.signing_alg_values())
            .collect();
        set.into_iter().collect()
    }

    /// Extension-contributed metadata members.
    pub fn metadata(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.metadata
    }

    /// Declared MCP extension identifiers, sorted.
    pub fn extension_ids(&self) -> Vec<String> {
        self.extensions.iter().cloned().collect()
    }
}

/// A server extension: installs grant handlers, authenticators, resolvers and metadata.
///
/// ```
/// use mcp_auth_core::ext::{ExtensionServices, Registry, RegistryError, ServerExtension};
/// use mcp_auth_core::types::Issuer;
///
/// struct Branding;
/// impl ServerExtension for Branding {
///     fn name(&self) -> &str { "branding" }
///     fn install(self: Box<Self>, reg: &mut Registry, _: &ExtensionServices) -> Result<(), RegistryError> {
///         reg.add_metadata("service_documentation", "https://docs.example.com".into())
///     }
/// }
///
/// let mut reg = Registry::new();
/// let services = ExtensionServices::in_memory("https://auth.example.com".parse::<Issuer>().unwrap());
/// Box::new(Branding).install(&mut reg, &services).unwrap();
/// assert!(reg.metadata().contains_key("service_documentation"));
/// ```
pub trait ServerExtension: Send {
    /// A short name for logs and errors.
    fn name(&self) -> &str;

    /// Add this extension's parts to the registry. `services` are the server's own stores and
    /// keys, which the extension's handlers may keep ([`super::ExtensionServices`]).
    ///
    /// # Errors
    /// Any [`RegistryError`]; the server then refuses to start.
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        services: &super::ExtensionServices,
    ) -> Result<(), RegistryError>;

    /// The checks that need only where the server listens (`bound_to_loopback`: every bound
    /// address is loopback), run by the binary before it opens or creates any storage, so a
    /// refused configuration leaves nothing behind. [`Self::install`] may check the same
    /// again. Default: none.
    ///
    /// # Errors
    /// A [`RegistryError`] naming the setting; the server then refuses to start.
    fn preflight(&self, _bound_to_loopback: bool) -> Result<(), RegistryError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OAuthError;
    use crate::ext::{ClientAuthPolicy, GrantContext, GrantDecision};
    use crate::types::GrantType;
    use async_trait::async_trait;

    struct Dummy;
    #[async_trait]
    impl GrantHandler for Dummy {
        fn grant_type(&self) -> GrantType {
            GrantType::new("urn:example:dummy")
        }
        fn client_authentication(&self) -> ClientAuthPolicy {
            ClientAuthPolicy::Required(vec![TokenEndpointAuthMethod::PrivateKeyJwt])
        }
        async fn decide(&self, _ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Err(OAuthError::invalid_grant("dummy"))
        }
    }

    #[test]
    fn grant_registered_twice_is_an_error() {
        let mut reg = Registry::new();
        reg.add_grant(Arc::new(Dummy)).unwrap();
        assert_eq!(
            reg.add_grant(Arc::new(Dummy)).unwrap_err(),
            RegistryError::DuplicateGrant("urn:example:dummy".into())
        );
        assert_eq!(reg.grant_types(), vec!["urn:example:dummy".to_owned()]);
    }

    struct Exchanger;
    #[async_trait]
    impl crate::ext::TokenExchanger for Exchanger {
        fn name(&self) -> &str {
            "example"
        }
        fn issued_token_types(&self) -> &[&str] {
            &["urn:example:token"]
        }
        fn claims(&self, _: &GrantContext<'_>, _: &crate::ext::TokenExchangeRequest) -> bool {
            true
        }
        async fn exchange(
            &self,
            _: &GrantContext<'_>,
            _: &crate::ext::TokenExchangeRequest,
        ) -> Result<crate::ext::ExchangeOutcome, OAuthError> {
            Err(OAuthError::invalid_grant("example"))
        }
    }

    struct OtherExchangeGrant;
    #[async_trait]
    impl GrantHandler for OtherExchangeGrant {
        fn grant_type(&self) -> GrantType {
            GrantType::new(GrantType::TOKEN_EXCHANGE)
        }
        async fn decide(&self, _ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Err(OAuthError::invalid_grant("other"))
        }
    }

    /// RFC 8693: exchangers share one token-exchange grant, listed once; a second handler for
    /// the grant type, before or after, is a wiring mistake.
    #[test]
    fn exchangers_share_one_token_exchange_grant() {
        let mut reg = Registry::new();
        reg.add_token_exchanger(Arc::new(Exchanger)).unwrap();
        reg.add_token_exchanger(Arc::new(Exchanger)).unwrap();
        assert_eq!(
            reg.grant_types(),
            vec![GrantType::TOKEN_EXCHANGE.to_owned()]
        );
        assert_eq!(reg.token_exchange().unwrap().exchangers().len(), 2);
        assert!(reg.grant(GrantType::TOKEN_EXCHANGE).is_some());
        assert_eq!(
            reg.add_grant(Arc::new(OtherExchangeGrant)).unwrap_err(),
            RegistryError::DuplicateGrant(GrantType::TOKEN_EXCHANGE.into())
        );
        let mut other = Registry::new();
        other.add_grant(Arc::new(OtherExchangeGrant)).unwrap();
        assert_eq!(
            other.add_token_exchanger(Arc::new(Exchanger)).unwrap_err(),
            RegistryError::DuplicateGrant(GrantType::TOKEN_EXCHANGE.into())
        );
    }

    struct Redeemer;
    #[async_trait]
    impl GrantHandler for Redeemer {
        fn grant_type(&self) -> GrantType {
            GrantType::new(GrantType::JWT_BEARER)
        }
        async fn decide(&self, _ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Err(OAuthError::invalid_grant("redeemer"))
        }
    }
    impl crate::ext::AssertionRedeemer for Redeemer {
        fn name(&self) -> &str {
            "redeemer"
        }
        fn claims(&self, _: &crate::ext::AssertionPeek) -> bool {
            true
        }
    }

    struct OtherJwtBearerGrant;
    #[async_trait]
    impl GrantHandler for OtherJwtBearerGrant {
        fn grant_type(&self) -> GrantType {
            GrantType::new(GrantType::JWT_BEARER)
        }
        async fn decide(&self, _ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Err(OAuthError::invalid_grant("other"))
        }
    }

    /// RFC 7523: assertion redeemers share one JWT bearer grant, listed once; a second handler
    /// for the grant type, before or after, is a wiring mistake.
    #[test]
    fn redeemers_share_one_jwt_bearer_grant() {
        let mut reg = Registry::new();
        reg.add_assertion_redeemer(Arc::new(Redeemer)).unwrap();
        reg.add_assertion_redeemer(Arc::new(Redeemer)).unwrap();
        assert_eq!(reg.grant_types(), vec![GrantType::JWT_BEARER.to_owned()]);
        assert!(reg.grant(GrantType::JWT_BEARER).is_some());
        assert_eq!(
            reg.add_grant(Arc::new(OtherJwtBearerGrant)).unwrap_err(),
            RegistryError::DuplicateGrant(GrantType::JWT_BEARER.into())
        );
        let mut other = Registry::new();
        other.add_grant(Arc::new(OtherJwtBearerGrant)).unwrap();
        assert_eq!(
            other
                .add_assertion_redeemer(Arc::new(Redeemer))
                .unwrap_err(),
            RegistryError::DuplicateGrant(GrantType::JWT_BEARER.into())
        );
    }

    #[test]
    fn core_metadata_cannot_be_overridden() {
        let mut reg = Registry::new();
        assert!(reg.add_metadata("issuer", "x".into()).is_err());
        assert_eq!(
            reg.add_metadata("extensions_supported", serde_json::json!(["x"])),
            Err(RegistryError::DuplicateMetadata(
                "extensions_supported".into()
            ))
        );
    }

    /// Issue #9: a grant accepting a method no authenticator checks fails validation.
    #[test]
    fn grant_method_without_authenticator_fails_validation() {
        let mut reg = Registry::new();
        reg.add_grant(Arc::new(Dummy)).unwrap();
        assert_eq!(
            reg.validate(),
            Err(RegistryError::MissingAuthenticator {
                grant: "urn:example:dummy".into(),
                method: "private_key_jwt".into()
            })
        );
    }

    /// Issue #9: extension metadata may not list a grant nothing handles.
    #[test]
    fn metadata_listing_an_unhandled_grant_fails_validation() {
        let mut reg = Registry::new();
        reg.add_metadata(
            "dpop_grant_types_supported",
            serde_json::json!(["authorization_code"]),
        )
        .unwrap();
        assert_eq!(
            reg.validate(),
            Err(RegistryError::Unhandled {
                member: "dpop_grant_types_supported".into(),
                value: "authorization_code".into()
            })
        );
    }
}
