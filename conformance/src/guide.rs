//! How-tos for your own tests (documentation only).
//!
//! ## Test that my MCP server rejects an expired token
//!
//! Serve the kit's test key from a loopback [`TestAuthServer`](crate::TestAuthServer), point
//! the MCP server's resource-server configuration at its issuer, and send it a token the
//! [`TokenMinter`](crate::TokenMinter) broke on purpose ([`Defect`](crate::Defect)): an
//! RFC 9068 resource server must answer `401` with `error="invalid_token"` (spec RS-07).
//!
//! ```
//! use axum::Router;
//! use axum::body::Body;
//! use axum::http::Request;
//! use mcp_auth_conformance::{Defect, TestAuthServer, TestKey};
//! use mcp_auth_resource_server::{
//!     BearerAuthLayer, JwtValidator, ResourceServerConfig, ScopeRequirements,
//! };
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = TestKey::generate("test-key-1")?;
//! let auth = TestAuthServer::start(&[&key]).await?;
//! let resource = "http://127.0.0.1:3000/mcp";
//!
//! // The MCP server under test (here a stand-in route behind the resource-server layer).
//! let config = ResourceServerConfig::builder(resource)
//!     .authorization_server(auth.issuer())
//!     .policy(ScopeRequirements::builder().baseline("mcp:tools").build()?)
//!     .build()?;
//! let validator = JwtValidator::builder(&config).build()?;
//! let app = Router::new()
//!     .route("/mcp", axum::routing::post(|| async { "ok" }))
//!     .layer(BearerAuthLayer::new(config, validator));
//!
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! let minter = auth.minter(&key, resource, now);
//! let call = |token: String| {
//!     Request::post("/mcp")
//!         .header("authorization", format!("Bearer {token}"))
//!         .header("content-type", "application/json")
//!         .body(Body::from(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#))
//! };
//!
//! let res = app.clone().oneshot(call(minter.broken(Defect::Expired, "mcp:tools")?)?).await?;
//! assert_eq!(res.status(), 401);
//! assert!(res.headers()["www-authenticate"].to_str()?.contains(r#"error="invalid_token""#));
//!
//! let res = app.oneshot(call(minter.valid("mcp:tools")?)?).await?;
//! assert_eq!(res.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! ## Run my MCP server's tests against a real AS in-process
//!
//! With features `server` and `cli`: start our authorization server in the test's process on a
//! loopback port (`server::InProcessServer`, development
//! profile: the user is signed in and consent skipped), provision a client, and get a real
//! access token through the code flow with the checker's headless user agent
//! ([`check::browser::authorize`](crate::check::browser::authorize)). Point your MCP server at
//! `issuer` and call it with the token.
//!
//! ```
//! # #[cfg(all(feature = "server", feature = "cli"))]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_auth_conformance::check::browser::{Authorization, Login, Pkce, authorize};
//! use mcp_auth_conformance::check::http::{Http, form};
//! use mcp_auth_conformance::server::{InProcessServer, client, resources, settings};
//! use mcp_auth_core::TokenEndpointAuthMethod;
//! use mcp_auth_core::store::User;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let issuer = format!("http://{}", listener.local_addr()?);
//! let mcp = "http://127.0.0.1:3000/mcp";
//! let redirect = "http://127.0.0.1:53682/callback";
//! let mut s = settings(&issuer, resources(&[(mcp, "mcp:tools", "mcp:tools")], None)?)?;
//! s.dangerous_dev_mode = true;
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
//! let h = InProcessServer::start_at(s, now, |b| b).await?;
//! h.stores.clients.put(&client(
//!     "my-app", TokenEndpointAuthMethod::None, None, &["authorization_code"], &[redirect],
//! )).await?;
//! h.stores.users.put(&User {
//!     sub: "dev-user".into(),
//!     username: mcp_auth_server::DEV_USERNAME.into(),
//!     password_hash: String::new(),
//! }).await?;
//! let _server = h.serve(listener);
//!
//! let http = Http::new(None)?;
//! let pkce = Pkce::generate();
//! let url = format!("{issuer}/authorize?{}", form(&[
//!     ("response_type", "code"), ("client_id", "my-app"), ("redirect_uri", redirect),
//!     ("code_challenge", &pkce.challenge), ("code_challenge_method", "S256"),
//!     ("resource", mcp), ("state", "s1"),
//! ]));
//! let Authorization::Redirect { url, .. } = authorize(&http, &url, redirect, &Login::Auto).await
//! else {
//!     panic!("no redirect to the client");
//! };
//! let code = url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
//! let res = http.post_form(&format!("{issuer}/token"), &[
//!     ("grant_type", "authorization_code"), ("code", &code.unwrap_or_default()),
//!     ("redirect_uri", redirect), ("code_verifier", &pkce.verifier), ("client_id", "my-app"),
//!     ("resource", mcp),
//! ], None).await;
//! let token = res.json().and_then(|j| j["access_token"].as_str().map(str::to_owned));
//! assert!(token.is_some(), "{}", res.summary());
//! // Now: your MCP server, configured with `issuer`, accepts `Bearer <token>`.
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "server", feature = "cli")))]
//! # fn main() {}
//! ```
