//! The client helpers against real loopback sockets: a mock enterprise IdP (a small axum app
//! whose token endpoint issues signed ID-JAGs by RFC 8693 token exchange), a mock MCP server
//! publishing its RFC 9728 metadata, and an in-process `auth-server` with the extension.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_auth_conformance::server::{
    FIXED_NOW as NOW, InProcessServer, basic, client, jwt_parts, resources, settings,
};
use mcp_auth_conformance::{TestKey, jwks_of};
use mcp_auth_core::{FixedClock, GrantType, Secret, TokenEndpointAuthMethod};
use mcp_auth_ext_xaa::client::{
    ClientAuth, ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, IdpEndpoint, XaaClient, XaaClientError,
    default_http_client, discover,
};
use mcp_auth_ext_xaa::redeem::{TrustedIdpConfig, XaaExtension, default_subject_prefix};
use mcp_auth_outbound::client::{ClientError, Es256Key};
use serde_json::json;
use tokio::net::TcpListener;

/// The user's ID token at the IdP (opaque to this test).
const ID_TOKEN: &str = "id-token-of-alice";
/// The client's registrations at the IdP, and the client ids they map to at the MCP AS.
const IDP_CLIENT: &str = "app-at-idp";
const IDP_SECRET: &str = "idp-secret-0123456789abcdef";
const IDP_JWT_CLIENT: &str = "jwt-app-at-idp";
/// The client's registrations at the MCP AS.
const AS_CLIENT: &str = "app-at-as";
const AS_SECRET: &str = "as-secret-0123456789abcdef";
const AS_JWT_CLIENT: &str = "jwt-app-at-as";

struct Idp {
    issuer: String,
    key: TestKey,
    next: Mutex<u32>,
    /// Every token request's form.
    seen: Mutex<Vec<HashMap<String, String>>>,
}

fn oauth_error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// The mock IdP's token endpoint (spec §6.3): Basic client authentication, token exchange of
/// [`ID_TOKEN`] for an ID-JAG naming the client's id at the MCP AS.
async fn idp_token(State(idp): State<Arc<Idp>>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    idp.seen.lock().unwrap().push(form.clone());
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let as_client = if authorization == basic(IDP_CLIENT, IDP_SECRET) {
        AS_CLIENT
    } else if authorization == basic(IDP_JWT_CLIENT, IDP_SECRET) {
        AS_JWT_CLIENT
    } else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    };
    let field = |k: &str| form.get(k).map(String::as_str);
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:token-exchange")
        || field("requested_token_type") != Some(ID_JAG_TOKEN_TYPE)
        || field("subject_token_type") != Some(ID_TOKEN_TYPE)
    {
        return oauth_error("invalid_request", "not an ID-JAG token exchange");
    }
    if field("subject_token") != Some(ID_TOKEN) {
        return oauth_error("invalid_grant", "the subject token is not valid");
    }
    let n = {
        let mut n = idp.next.lock().unwrap();
        *n += 1;
        *n
    };
    let scope = field("scope").unwrap_or("mcp:basic files:read");
    let mut claims = json!({
        "iss": idp.issuer, "sub": "alice", "aud": field("audience"), "client_id": as_client,
        "jti": format!("jag-{n}"), "iat": NOW, "exp": NOW + 300, "scope": scope,
    });
    if let Some(r) = field("resource") {
        claims["resource"] = json!(r);
    }
    let header = json!({"typ": "oauth-id-jag+jwt", "alg": "ES256", "kid": idp.key.kid()});
    let jag = idp.key.sign(&header, &claims).unwrap();
    axum::Json(json!({
        "issued_token_type": ID_JAG_TOKEN_TYPE,
        "access_token": jag,
        "token_type": "N_A",
        "scope": scope,
        "expires_in": 300,
    }))
    .into_response()
}

/// Loopback IdP, MCP server and authorization server.
struct World {
    idp: Arc<Idp>,
    resource: String,
    as_issuer: String,
    jwt_key_der: Vec<u8>,
    _kit: InProcessServer,
}

async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

impl World {
    async fn start() -> Self {
        // The IdP.
        let (idp_listener, idp_issuer) = bind().await;
        let idp = Arc::new(Idp {
            issuer: idp_issuer.clone(),
            key: TestKey::generate("idp-1").unwrap(),
            next: Mutex::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let jwks = jwks_of(&[&idp.key]);
        let idp_metadata = json!({
            "issuer": idp_issuer,
            "token_endpoint": format!("{idp_issuer}/token"),
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        });
        let idp_app = Router::new()
            .route("/token", post(idp_token))
            .route("/jwks", get(move || async move { axum::Json(jwks) }))
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || async move { axum::Json(idp_metadata) }),
            )
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(idp_listener, idp_app).await });

        // The authorization server.
        let (as_listener, as_issuer) = bind().await;
        let (mcp_listener, mcp_base) = bind().await;
        let resource = format!("{mcp_base}/mcp");
        let registry = resources(
            &[(&resource, "mcp:basic files:read files:write", "mcp:basic")],
            None,
        )
        .unwrap();
        let mut trusted = TrustedIdpConfig::new(&idp_issuer);
        trusted.jwks_uri = Some(format!("{idp_issuer}/jwks"));
        trusted.insecure_allow_http_loopback = true;
        let ext = XaaExtension::new(vec![trusted.validate().unwrap()]);
        let kit = InProcessServer::start(settings(&as_issuer, registry).unwrap(), |b| {
            b.extension(Box::new(ext))
        })
        .await
        .unwrap();
        let (jwt_key, jwt_key_der) = Es256Key::generate().unwrap();
        let grants = [GrantType::JWT_BEARER];
        let secret_client = client(
            AS_CLIENT,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(AS_SECRET),
            &grants,
            &[],
        );
        let mut jwt_client = client(
            AS_JWT_CLIENT,
            TokenEndpointAuthMethod::PrivateKeyJwt,
            None,
            &grants,
            &[],
        );
        jwt_client.jwks = Some(json!({"keys": [jwt_key.with_kid("k1").public_jwk()]}));
        for c in [secret_client, jwt_client] {
            kit.stores.clients.put(&c).await.unwrap();
        }
        kit.serve(as_listener);

        // The MCP server's protected resource metadata (RFC 9728); `/other` names the IdP as
        // its authorization server, which does not offer the jwt-bearer grant.
        let prm = json!({"resource": resource, "authorization_servers": [as_issuer]});
        let other = json!({
            "resource": format!("{mcp_base}/other"),
            "authorization_servers": [idp_issuer],
        });
        let mcp_app = Router::new()
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                get(move || async move { axum::Json(prm) }),
            )
            .route(
                "/.well-known/oauth-protected-resource/other",
                get(move || async move { axum::Json(other) }),
            );
        tokio::spawn(async move { axum::serve(mcp_listener, mcp_app).await });
        Self {
            idp,
            resource,
            as_issuer,
            jwt_key_der,
            _kit: kit,
        }
    }

    fn idp_endpoint(&self) -> IdpEndpoint {
        IdpEndpoint::new(format!("{}/token", self.idp.issuer))
    }

    async fn client(&self, idp_auth: ClientAuth, as_auth: ClientAuth) -> XaaClient {
        XaaClient::discover(&self.resource, self.idp_endpoint(), idp_auth, as_auth)
            .await
            .unwrap()
            .with_clock(Arc::new(FixedClock::new(NOW)))
    }

    async fn secret_client(&self) -> XaaClient {
        self.client(
            ClientAuth::secret_basic(IDP_CLIENT, IDP_SECRET),
            ClientAuth::secret_basic(AS_CLIENT, AS_SECRET),
        )
        .await
    }
}

fn id_token() -> Secret {
    Secret::new(ID_TOKEN)
}

/// Both legs (spec §6.2 steps 2 and 3): the IdP is asked for an ID-JAG for the discovered
/// authorization server and resource, and the ID-JAG is redeemed for an access token for the
/// MCP server (EMA-08), for the user, with the requested scope.
#[tokio::test]
async fn both_legs_give_an_access_token_for_the_mcp_server() {
    let w = World::start().await;
    let c = w.secret_client().await;
    assert_eq!(c.server().issuer, w.as_issuer);
    assert_eq!(
        c.server().grant_profiles,
        vec!["urn:ietf:params:oauth:grant-profile:id-jag".to_owned()]
    );
    let token = c
        .access_token(&id_token(), Some("files:read"))
        .await
        .unwrap();
    assert_eq!(token.scope.as_deref(), Some("files:read"));
    let (_, claims) = jwt_parts(token.access_token.expose());
    assert_eq!(claims["aud"], w.resource);
    assert_eq!(
        claims["sub"],
        format!("{}alice", default_subject_prefix(&w.idp.issuer))
    );
    assert_eq!(claims["client_id"], AS_CLIENT);
    assert_eq!(claims["scope"], "files:read");
    let seen = w.idp.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["audience"], w.as_issuer);
    assert_eq!(seen[0]["resource"], w.resource);
    assert_eq!(seen[0]["scope"], "files:read");
    assert!(!format!("{token:?}").contains(token.access_token.expose()));
}

/// Leg 2 with `private_key_jwt` at the MCP authorization server.
#[tokio::test]
async fn private_key_jwt_authenticates_at_the_authorization_server() {
    let w = World::start().await;
    let key = Es256Key::from_pkcs8_der(&w.jwt_key_der)
        .unwrap()
        .with_kid("k1");
    let c = w
        .client(
            ClientAuth::secret_basic(IDP_JWT_CLIENT, IDP_SECRET),
            ClientAuth::private_key_jwt(AS_JWT_CLIENT, key),
        )
        .await;
    let token = c.access_token(&id_token(), None).await.unwrap();
    let (_, claims) = jwt_parts(token.access_token.expose());
    assert_eq!(claims["client_id"], AS_JWT_CLIENT);
    assert_eq!(token.scope.as_deref(), Some("files:read mcp:basic"));
}

/// Leg 1: the IdP's OAuth error is reported as it is.
#[tokio::test]
async fn idp_refusal_is_reported_with_its_error() {
    let w = World::start().await;
    let c = w.secret_client().await;
    let err = c
        .access_token(&Secret::new("forged-id-token"), None)
        .await
        .unwrap_err();
    match err {
        XaaClientError::Refused {
            endpoint,
            error,
            description,
        } => {
            assert_eq!(endpoint, "the IdP token endpoint");
            assert_eq!(error, "invalid_grant");
            assert_eq!(
                description.as_deref(),
                Some("the subject token is not valid")
            );
        }
        other => panic!("{other:?}"),
    }
}

/// EMA-05 from the client's side: an ID-JAG is single-use, so a second redemption is refused
/// and the client needs a new one.
#[tokio::test]
async fn a_redeemed_id_jag_cannot_be_redeemed_again() {
    let w = World::start().await;
    let c = w.secret_client().await;
    let jag = c.id_jag(&id_token(), None).await.unwrap();
    assert_eq!(jag.expires_in, Some(300));
    assert!(!format!("{jag:?}").contains(jag.assertion.expose()));
    c.redeem(&jag, Some("mcp:basic")).await.unwrap();
    let err = c.redeem(&jag, None).await.unwrap_err();
    assert!(
        matches!(&err, XaaClientError::Refused { error, description, .. }
            if error == "invalid_grant" && description.as_deref() == Some("the ID-JAG was already used")),
        "{err:?}"
    );
    assert!(c.access_token(&id_token(), None).await.is_ok());
}

/// Discovery checks that the protected resource metadata is for the URL asked about (RFC 9728
/// §3.3).
#[tokio::test]
async fn discovery_refuses_metadata_for_another_resource() {
    let w = World::start().await;
    let http = default_http_client().unwrap();
    let err = discover(&http, &format!("{}/", w.resource))
        .await
        .unwrap_err();
    assert!(
        matches!(err, XaaClientError::Client(ClientError::Metadata(_))),
        "{err:?}"
    );
}

/// EMA-M1 from the client's side: an authorization server that does not list the jwt-bearer
/// grant is not used.
#[tokio::test]
async fn discovery_requires_the_jwt_bearer_grant() {
    let w = World::start().await;
    let http = default_http_client().unwrap();
    let other = w.resource.replace("/mcp", "/other");
    let err = discover(&http, &other).await.unwrap_err();
    assert!(
        matches!(&err, XaaClientError::Client(ClientError::Unsupported(what)) if what == "the urn:ietf:params:oauth:grant-type:jwt-bearer grant"),
        "{err:?}"
    );
}

/// Plain `http` token endpoints off loopback are refused before any request.
#[tokio::test]
async fn insecure_idp_endpoint_is_refused() {
    let w = World::start().await;
    let c = XaaClient::with_server(
        default_http_client().unwrap(),
        w.secret_client().await.server().clone(),
        IdpEndpoint::new("http://idp.example.com/token"),
        ClientAuth::secret_basic(IDP_CLIENT, IDP_SECRET),
        ClientAuth::secret_basic(AS_CLIENT, AS_SECRET),
    );
    let err = c.id_jag(&id_token(), None).await.unwrap_err();
    assert!(
        matches!(err, XaaClientError::Client(ClientError::InvalidUrl(_))),
        "{err:?}"
    );
}
