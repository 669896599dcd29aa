//! Issue #9 §2: the token seam takes every grant. A small test grant (an RFC 8693-style
//! exchange that mints an ID-JAG) uses each part of the seam: its own client-authentication
//! policy, registration refusal, extra claims (never a registered one), extra response members
//! with `token_type: N_A`, another token profile signed by the same keys, and the engine's scope
//! and resource rules.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_auth_core::ext::{
    ClaimError, ClientAuthPolicy, ClientSourceRefused, GrantContext, GrantDecision, GrantHandler,
    OmittedScope, Registry, RegistryError, ResourceHint, ResponseTokenType, ScopeCeiling,
    ServerExtension, TokenProfile,
};
use mcp_auth_core::protected_resource::{ProtectedResource, ResourceRegistry};
use mcp_auth_core::store::Stores;
use mcp_auth_core::{
    Client, ClientSecretHash, ClientSource, ErrorCode, FixedClock, GrantType, OAuthError,
    TokenEndpointAuthMethod, TokenHash,
};
use mcp_auth_server::engine::token::ClientRequest;
use mcp_auth_server::{AuthorizationServer, BuildError, ServerSettings};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const RESOURCE_AS: &str = "https://as.resource.example.com";
const GRANT: &str = "urn:example:params:oauth:grant-type:test-exchange";
const ID_JAG_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
const NOW: i64 = 1_800_000_000;
const SECRET: &str = "exchange-secret-0123456789abcdef";

/// The test grant: confidential clients with `client_secret_basic` only; never registered
/// dynamically; an ID-JAG for the client with a `tenant` claim.
struct ExchangeGrant;

#[async_trait]
impl GrantHandler for ExchangeGrant {
    fn grant_type(&self) -> GrantType {
        GrantType::new(GRANT)
    }

    fn client_authentication(&self) -> ClientAuthPolicy {
        ClientAuthPolicy::Required(vec![TokenEndpointAuthMethod::ClientSecretBasic])
    }

    fn check_client_source(&self, source: ClientSource) -> Result<(), ClientSourceRefused> {
        match source {
            ClientSource::Admin => Ok(()),
            _ => Err(ClientSourceRefused(
                "the test exchange is for operator-registered clients".into(),
            )),
        }
    }

    async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
        let requested = ctx.scope()?;
        let mut d = GrantDecision::new(
            ctx.client.client_id.as_str(),
            ResourceHint::Request { required: true },
            ScopeCeiling::ClientAllowance {
                when_omitted: OmittedScope::PolicyDefault,
            },
        );
        d.requested_scope = requested;
        // A grant that tries to replace a registered claim is refused at insert time.
        assert_eq!(
            d.extra_claims.insert("aud", json!("https://evil.example")),
            Err(ClaimError::ReservedClaim("aud".into()))
        );
        d.extra_claims
            .insert("tenant", json!("acme"))
            .map_err(OAuthError::server_error)?;
        d.profile = TokenProfile::Assertion {
            typ: "oauth-id-jag+jwt",
            audience: RESOURCE_AS.into(),
            client_id: ctx.client.client_id.as_str().to_owned(),
        };
        d.response.token_type = ResponseTokenType::NotApplicable;
        d.response
            .insert("issued_token_type", json!(ID_JAG_TYPE))
            .map_err(OAuthError::server_error)?;
        Ok(d)
    }
}

struct ExchangeExtension;

impl ServerExtension for ExchangeExtension {
    fn name(&self) -> &str {
        "test_exchange"
    }
    fn install(
        self: Box<Self>,
        registry: &mut Registry,
        _services: &mcp_auth_core::ext::ExtensionServices,
    ) -> Result<(), RegistryError> {
        registry.add_grant(Arc::new(ExchangeGrant))
    }
}

fn settings() -> ServerSettings {
    let resources = ResourceRegistry::new(
        vec![ProtectedResource {
            resource: RESOURCE.parse().unwrap(),
            scopes_supported: "mcp:basic mcp:tools".parse().unwrap(),
            default_scopes: "mcp:basic".parse().unwrap(),
            access_token_ttl: None,
        }],
        Some(RESOURCE.parse().unwrap()),
    )
    .unwrap();
    ServerSettings::new(ISSUER.parse().unwrap(), resources)
}

fn client(id: &str, method: TokenEndpointAuthMethod) -> Client {
    Client {
        client_id: id.parse().unwrap(),
        client_name: Some(id.into()),
        redirect_uris: vec![],
        grant_types: vec![GrantType::new(GRANT)],
        token_endpoint_auth_method: method,
        token_endpoint_auth_methods: Vec::new(),
        secrets: vec![ClientSecretHash {
            hash: TokenHash::of(SECRET).as_str().to_owned(),
            expires_at: None,
        }],
        jwks: None,
        jwks_uri: None,
        scope: None,
        resources: None,
        client_id_issued_at: NOW,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: false,
    }
}

async fn server() -> AuthorizationServer {
    let stores = Stores::in_memory();
    stores
        .clients
        .put(&client(
            "svc-basic",
            TokenEndpointAuthMethod::ClientSecretBasic,
        ))
        .await
        .unwrap();
    stores
        .clients
        .put(&client(
            "svc-post",
            TokenEndpointAuthMethod::ClientSecretPost,
        ))
        .await
        .unwrap();
    let mut public = client("public-app", TokenEndpointAuthMethod::None);
    public.secrets.clear();
    stores.clients.put(&public).await.unwrap();
    AuthorizationServer::builder(settings(), stores)
        .clock(Arc::new(FixedClock::new(NOW)))
        .extension(Box::new(ExchangeExtension))
        .build()
        .await
        .unwrap()
}

fn basic(id: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{SECRET}")))
}

async fn exchange(
    server: &AuthorizationServer,
    authorization: Option<&str>,
    form: &str,
) -> Result<Value, OAuthError> {
    let body = format!("grant_type={}&{form}", urlencode(GRANT));
    let res = server
        .token(ClientRequest {
            authorization,
            body: body.as_bytes(),
            source: Some("127.0.0.1"),
            dpop: &[],
        })
        .await?;
    Ok(serde_json::to_value(res).unwrap())
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The response has the extra member and `token_type: N_A`; the token is an ID-JAG
/// (`typ: oauth-id-jag+jwt`) for the resource's AS, with the `resource` claim, one `aud`, the
/// extra claim, signed by the key the JWKS publishes, and never accepted as an access token.
#[tokio::test]
async fn a_grant_returns_response_members_and_another_token_profile() {
    let server = server().await;
    let basic = basic("svc-basic");
    let body = exchange(
        &server,
        Some(&basic),
        &format!("resource={}", urlencode(RESOURCE)),
    )
    .await
    .unwrap();
    assert_eq!(body["token_type"], "N_A");
    assert_eq!(body["issued_token_type"], ID_JAG_TYPE);
    assert_eq!(body["scope"], "mcp:basic");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let header = segment(token, 0);
    let kid = server.jwks()["keys"][0]["kid"].clone();
    assert_eq!(
        header,
        json!({"alg": "ES256", "typ": "oauth-id-jag+jwt", "kid": kid})
    );
    let claims = segment(token, 1);
    assert_eq!(claims["aud"], RESOURCE_AS);
    assert_eq!(claims["resource"], RESOURCE);
    assert_eq!(claims["sub"], "svc-basic");
    assert_eq!(claims["tenant"], "acme");
    let payload = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload.matches("\"aud\"").count(), 1, "{payload}");
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(server.jwks()["keys"][0].clone()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let verified = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    );
    assert_eq!(verified.unwrap().claims, claims);
    assert_eq!(server.token_issuer().verify(token), None);
}

/// The grant's client-authentication policy is enforced before it decides: a public client
/// where authentication is required is `invalid_client`, a confidential client with another
/// method `unauthorized_client`.
#[tokio::test]
async fn clients_outside_the_grants_policy_are_refused() {
    let server = server().await;
    let form = format!("resource={}", urlencode(RESOURCE));
    let err = exchange(&server, None, &format!("client_id=public-app&{form}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidClient);
    assert_eq!(
        err.description(),
        format!("the {GRANT} grant requires client authentication; public clients may not use it")
    );
    let err = exchange(
        &server,
        None,
        &format!("client_id=svc-post&client_secret={SECRET}&{form}"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnauthorizedClient);
    assert_eq!(
        err.description(),
        format!("clients authenticating with client_secret_post may not use the {GRANT} grant")
    );
}

/// The engine applies the resource hint and the scope policy to the grant's decision.
#[tokio::test]
async fn the_engine_applies_scope_and_resource_rules_to_the_grant() {
    let server = server().await;
    let basic = basic("svc-basic");
    let err = exchange(&server, Some(&basic), "scope=mcp%3Abasic")
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidTarget);
    assert_eq!(
        err.description(),
        "the resource parameter is required (RFC 8707)"
    );
    let err = exchange(
        &server,
        Some(&basic),
        &format!("resource={}&scope=admin", urlencode(RESOURCE)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidScope);
    assert_eq!(
        err.description(),
        "scope admin is not defined for resource https://mcp.example.com/mcp"
    );
}

/// RFC 6749 §3.3: the engine parses `scope` once; a grant that reads it refuses a malformed one
/// (`invalid_scope` with the parser's reason), a grant that ignores `scope` (as the
/// `authorization_code` grant does) is not refused for it.
#[tokio::test]
async fn a_malformed_scope_is_refused_only_by_a_grant_that_reads_it() {
    /// Decides without reading `scope`.
    struct IgnoresScope;

    #[async_trait]
    impl GrantHandler for IgnoresScope {
        fn grant_type(&self) -> GrantType {
            GrantType::new(IGNORES_SCOPE)
        }

        async fn decide(&self, ctx: &GrantContext<'_>) -> Result<GrantDecision, OAuthError> {
            Ok(GrantDecision::new(
                ctx.client.client_id.as_str(),
                ResourceHint::Request { required: false },
                ScopeCeiling::ClientAllowance {
                    when_omitted: OmittedScope::PolicyDefault,
                },
            ))
        }
    }

    struct Both;

    impl ServerExtension for Both {
        fn name(&self) -> &str {
            "both"
        }
        fn install(
            self: Box<Self>,
            registry: &mut Registry,
            _services: &mcp_auth_core::ext::ExtensionServices,
        ) -> Result<(), RegistryError> {
            registry.add_grant(Arc::new(ExchangeGrant))?;
            registry.add_grant(Arc::new(IgnoresScope))
        }
    }

    const IGNORES_SCOPE: &str = "urn:example:params:oauth:grant-type:ignores-scope";
    let stores = Stores::in_memory();
    let mut svc = client("svc-basic", TokenEndpointAuthMethod::ClientSecretBasic);
    svc.grant_types.push(GrantType::new(IGNORES_SCOPE));
    stores.clients.put(&svc).await.unwrap();
    let server = AuthorizationServer::builder(settings(), stores)
        .clock(Arc::new(FixedClock::new(NOW)))
        .extension(Box::new(Both))
        .build()
        .await
        .unwrap();
    let basic = basic("svc-basic");
    let malformed = format!(
        "resource={}&scope=mcp%3Abasic++mcp%3Atools",
        urlencode(RESOURCE)
    );
    let err = exchange(&server, Some(&basic), &malformed)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidScope);
    assert_eq!(err.description(), "empty scope token");
    let body = format!("grant_type={}&{malformed}", urlencode(IGNORES_SCOPE));
    let res = server
        .token(ClientRequest {
            authorization: Some(&basic),
            body: body.as_bytes(),
            source: Some("127.0.0.1"),
            dpop: &[],
        })
        .await
        .unwrap();
    assert_eq!(res.scope, "mcp:basic");
}

/// Dynamic registration asks the grant handler, not a list in `auth-server`.
#[tokio::test]
async fn dynamic_registration_refusal_comes_from_the_grant() {
    let server = server().await;
    let body = format!(
        r#"{{"grant_types":["{GRANT}"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic"}}"#
    );
    let err = server
        .register("127.0.0.1", body.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidClientMetadata);
    assert_eq!(
        err.description(),
        "the test exchange is for operator-registered clients"
    );
}

/// Metadata advertised by an extension that names a grant nothing handles fails `build()`.
#[tokio::test]
async fn build_checks_the_registry_after_every_extension() {
    struct Advertises;
    impl ServerExtension for Advertises {
        fn name(&self) -> &str {
            "advertises"
        }
        fn install(
            self: Box<Self>,
            registry: &mut Registry,
            _services: &mcp_auth_core::ext::ExtensionServices,
        ) -> Result<(), RegistryError> {
            registry.add_metadata(
                "example_grant_types_supported",
                json!(["urn:example:nothing"]),
            )
        }
    }
    let err = AuthorizationServer::builder(settings(), Stores::in_memory())
        .extension(Box::new(Advertises))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BuildError::Registry(RegistryError::Unhandled { member, value })
                if member == "example_grant_types_supported" && value == "urn:example:nothing"
        ),
        "{err}"
    );
}
