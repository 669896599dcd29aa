//! Authorization server metadata (RFC 8414 §2), generated from the registry so that it cannot
//! drift from behaviour.

use mcp_auth_core::wire::AuthorizationServerMetadata;

use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// The metadata document served at `/.well-known/oauth-authorization-server[/path]` and at the
    /// OIDC discovery location. `issuer` is byte-identical to the configured issuer (AS-01).
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let s = &self.inner.settings;
        let reg = &self.inner.registry;
        let confidential_methods: Vec<String> = reg
            .auth_methods()
            .into_iter()
            .filter(|m| m != "none")
            .collect();
        let mut extra = reg.metadata().clone();
        if let Some(dpop) = &self.inner.dpop {
            // RFC 9449 §5.1: the proof algorithms, asymmetric only.
            extra.insert(
                "dpop_signing_alg_values_supported".into(),
                serde_json::json!(dpop.algorithm_names()),
            );
        }
        let ids = reg.extension_ids();
        if !ids.is_empty() {
            extra.insert("extensions_supported".into(), serde_json::json!(ids));
        }
        let mut scopes_supported: Vec<String> = s
            .resources
            .all_scopes()
            .iter()
            .map(|x| x.to_string())
            .collect();
        // SEP-2207 (spec AS-R2-09): clients may ask for a refresh token with `offline_access`.
        scopes_supported.push(mcp_auth_core::OFFLINE_ACCESS.to_owned());
        if reg.openid_connect() {
            // OpenID Connect Discovery 1.0 §3: the members a relying party needs to check ID
            // tokens; `openid` is a scope of the sign-in, not of a resource.
            scopes_supported.insert(0, "openid".to_owned());
            extra.insert(
                "subject_types_supported".into(),
                serde_json::json!(["public"]),
            );
            extra.insert(
                "id_token_signing_alg_values_supported".into(),
                serde_json::json!([self.token_issuer().signing_alg()]),
            );
            extra.insert(
                "claims_supported".into(),
                serde_json::json!([
                    "iss",
                    "sub",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "nonce",
                    "jti"
                ]),
            );
        }
        AuthorizationServerMetadata {
            issuer: s.issuer.as_str().to_owned(),
            authorization_endpoint: s.issuer.endpoint("/authorize"),
            token_endpoint: s.issuer.endpoint("/token"),
            jwks_uri: Some(s.issuer.endpoint("/jwks")),
            registration_endpoint: s
                .registration
                .enabled
                .then(|| s.issuer.endpoint("/register")),
            scopes_supported,
            response_types_supported: vec!["code".into()],
            response_modes_supported: vec!["query".into()],
            grant_types_supported: reg.grant_types(),
            token_endpoint_auth_methods_supported: reg.auth_methods(),
            token_endpoint_auth_signing_alg_values_supported: reg.signing_alg_values(),
            introspection_endpoint: Some(s.issuer.endpoint("/introspect")),
            introspection_endpoint_auth_methods_supported: confidential_methods,
            revocation_endpoint: Some(s.issuer.endpoint("/revoke")),
            revocation_endpoint_auth_methods_supported: reg.auth_methods(),
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
            extra,
        }
    }
}
