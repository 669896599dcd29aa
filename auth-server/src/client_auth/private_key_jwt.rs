//! `private_key_jwt`: the client signs a JWT assertion with its private key (RFC 7523 §2.2 and
//! §3, spec §2.3.1).

use std::sync::Arc;

use async_trait::async_trait;
use mcp_auth_core::client::Client;
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::{AuthContext, ClientAuthenticator, PresentedCredentials};
use mcp_auth_core::jose::jsonwebtoken::Algorithm;
use mcp_auth_core::jose::{CompactJws, algorithm_name};
use mcp_auth_core::store::ReplayCache;
use mcp_auth_core::types::TokenEndpointAuthMethod;

use super::assertion_claims::{AssertionClaims, SKEW_SECS, check_claims};
use super::{AuthFailure, ClientKeySource};

/// The accepted assertion algorithms, in the advertised order. Never `none` (not expressible),
/// never `HS*` (a shared secret cannot prove key possession).
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];

/// Checks `private_key_jwt` client assertions.
///
/// In order (every failure is `invalid_client`, the reason only in the logged source):
///
/// 1. header `alg` is one of [`ClientAuthenticator::signing_alg_values`]; `none` and `HS*` are
///    refused before any key is looked up;
/// 2. the key ([`mcp_auth_core::jose::KeySet::select`]): the client's key with the header
///    `kid`, or, without a `kid`, the only key fitting the algorithm; its key type and curve fit
///    the algorithm, its `alg`, if set, equals the header `alg`, its `use`, if set, is `sig`;
/// 3. the signature verifies;
/// 4. `iss` == `sub` == the client's `client_id`;
/// 5. `aud` (string or array) contains the issuer (with or without a trailing `/`) or the
///    endpoint URL;
/// 6. `exp` present and `> now - 60`; `iat`, if present, `<= now + 60`, `<= exp` (no skew)
///    and `exp - iat <= 300`;
///    without `iat`, `exp - now <= 360`; `nbf`, if present, `<= now + 60` (seconds);
/// 7. `jti` present, and new: `pkjwt:{client_id}:{jti}` is recorded in the replay cache until
///    `exp + 60` (the last moment the assertion could still be accepted). Done last, so a bad
///    assertion does not use up its `jti` (spec AS-24).
pub struct PrivateKeyJwtAuthenticator {
    replay: Arc<dyn ReplayCache>,
    keys: Arc<dyn ClientKeySource>,
}

impl PrivateKeyJwtAuthenticator {
    /// An authenticator recording `jti`s in `replay` and taking client keys from `keys`.
    pub fn new(replay: Arc<dyn ReplayCache>, keys: Arc<dyn ClientKeySource>) -> Self {
        Self { replay, keys }
    }
}

impl std::fmt::Debug for PrivateKeyJwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKeyJwtAuthenticator")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ClientAuthenticator for PrivateKeyJwtAuthenticator {
    fn method(&self) -> TokenEndpointAuthMethod {
        TokenEndpointAuthMethod::PrivateKeyJwt
    }

    fn signing_alg_values(&self) -> Vec<String> {
        ALGORITHMS
            .iter()
            .map(|alg| algorithm_name(*alg).to_owned())
            .collect()
    }

    async fn authenticate(
        &self,
        client: &Client,
        credentials: &PresentedCredentials,
        ctx: &AuthContext<'_>,
    ) -> Result<(), OAuthError> {
        let PresentedCredentials::JwtAssertion {
            client_id,
            assertion,
        } = credentials
        else {
            return Err(AuthFailure::invalid_client(
                "credentials are not a client assertion",
            ));
        };
        if *client_id != client.client_id {
            return Err(AuthFailure::invalid_client(
                "assertion sub does not match the resolved client",
            ));
        }

        // 1. Algorithm, before any key lookup.
        let jws = CompactJws::parse(assertion.expose())
            .map_err(|e| AuthFailure::invalid_client(format!("assertion: {e}")))?;
        let alg = jws.alg();
        if !ALGORITHMS.contains(&alg) {
            return Err(AuthFailure::invalid_client(format!(
                "alg {} not accepted",
                algorithm_name(alg)
            )));
        }

        // 2. Key.
        let key = self.keys.key_for(client, jws.kid(), alg).await?;

        // 3. Signature (claims are checked below against the injected clock).
        if !jws.verify(&key) {
            return Err(AuthFailure::invalid_client(
                "assertion signature does not verify",
            ));
        }
        let claims: AssertionClaims = jws
            .claims()
            .map_err(|e| AuthFailure::invalid_client(format!("assertion: {e}")))?;

        // 4–6. Claims.
        let (jti, exp) = check_claims(claims, client, ctx)?;

        // 7. Replay, last.
        let replay_key = format!("pkjwt:{}:{jti}", client.client_id);
        let first_use = crate::metrics::timed(
            "replay_insert_once",
            self.replay
                .insert_once(&replay_key, exp.saturating_add(SKEW_SECS), ctx.now),
        )
        .await?;
        if !first_use {
            return Err(AuthFailure::invalid_client(
                "assertion jti was already used",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use mcp_auth_core::clock::UnixTime;
    use mcp_auth_core::error::ErrorCode;
    use mcp_auth_core::jose::{AllowedAlgorithms, KeySet, VerifyingKey};
    use mcp_auth_core::secret::Secret;
    use mcp_auth_core::store::MemoryReplayCache;
    use ring::rand::SystemRandom;
    use serde_json::{Value, json};

    use super::*;
    use crate::client_auth::test_support::{ISSUER, NOW, TOKEN_ENDPOINT, client, ctx, issuer};
    use crate::keys::SigningKey;

    /// A fixed key set that counts lookups.
    struct FixedJwks {
        set: Value,
        lookups: AtomicUsize,
    }

    #[async_trait]
    impl ClientKeySource for FixedJwks {
        async fn key_for(
            &self,
            _client: &Client,
            kid: Option<&str>,
            alg: Algorithm,
        ) -> Result<Arc<VerifyingKey>, OAuthError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            KeySet::from_json(&self.set)
                .and_then(|set| set.select(kid, alg))
                .map_err(crate::client_auth::client_keys::key_failure)
        }
    }

    struct Fixture {
        key: SigningKey,
        jwks: Arc<FixedJwks>,
        auth: PrivateKeyJwtAuthenticator,
    }

    fn new_key() -> SigningKey {
        SigningKey::from_stored(&SigningKey::generate(NOW).unwrap()).unwrap()
    }

    fn fixture_with(jwks: Value) -> Fixture {
        let jwks = Arc::new(FixedJwks {
            set: jwks,
            lookups: AtomicUsize::new(0),
        });
        let auth =
            PrivateKeyJwtAuthenticator::new(Arc::new(MemoryReplayCache::default()), jwks.clone());
        Fixture {
            key: new_key(),
            jwks,
            auth,
        }
    }

    fn fixture() -> Fixture {
        let key = new_key();
        let mut f = fixture_with(json!({"keys": [key.public_jwk()]}));
        f.key = key;
        f
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn header(key: &SigningKey) -> Value {
        json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()})
    }

    fn claims() -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": ISSUER, "iat": NOW, "exp": NOW + 120, "jti": "j-1"})
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        claims
    }

    impl Fixture {
        fn assertion(&self, claims: &Value) -> String {
            sign(&self.key, &header(&self.key), claims)
        }

        async fn run_at(&self, assertion: String, now: UnixTime) -> Result<(), OAuthError> {
            let client = client("c1", TokenEndpointAuthMethod::PrivateKeyJwt);
            let creds = PresentedCredentials::JwtAssertion {
                client_id: "c1".parse().unwrap(),
                assertion: Secret::new(assertion),
            };
            let iss = issuer();
            self.auth
                .authenticate(&client, &creds, &ctx(&iss, now))
                .await
        }

        async fn run(&self, assertion: String) -> Result<(), OAuthError> {
            self.run_at(assertion, NOW).await
        }
    }

    /// `invalid_client` with the fixed description, and `reason` only in the logged source.
    fn assert_invalid_client(result: Result<(), OAuthError>, reason: &str) {
        let err = result.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClient);
        assert_eq!(err.description(), "client authentication failed");
        let logged = err.internal_source().unwrap().to_string();
        assert!(logged.contains(reason), "{logged:?} lacks {reason:?}");
    }

    #[tokio::test]
    async fn valid_assertion_passes() {
        let f = fixture();
        f.run(f.assertion(&claims())).await.unwrap();
    }

    #[tokio::test]
    async fn aud_may_be_issuer_with_slash_token_endpoint_or_in_an_array() {
        let f = fixture();
        let auds = [
            json!(format!("{ISSUER}/")),
            json!(TOKEN_ENDPOINT),
            json!(["https://other.example", ISSUER]),
        ];
        for (i, aud) in auds.into_iter().enumerate() {
            let c = with(with(claims(), "aud", aud), "jti", json!(format!("j-{i}")));
            f.run(f.assertion(&c)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn key_without_kid_is_found_by_key_type() {
        let f = fixture();
        let h = json!({"alg": "ES256"});
        f.run(sign(&f.key, &h, &claims())).await.unwrap();
    }

    /// AS-24: a `private_key_jwt` assertion with a reused `jti` gets `invalid_client`.
    #[tokio::test]
    async fn reused_jti_is_invalid_client() {
        let f = fixture();
        let assertion = f.assertion(&claims());
        f.run(assertion.clone()).await.unwrap();
        assert_invalid_client(f.run(assertion).await, "already used");
    }

    #[tokio::test]
    async fn rejected_assertion_does_not_use_up_its_jti() {
        let f = fixture();
        let bad = with(claims(), "aud", json!("https://other.example"));
        assert_invalid_client(f.run(f.assertion(&bad)).await, "aud does not name");
        f.run(f.assertion(&claims())).await.unwrap();
    }

    #[tokio::test]
    async fn jti_stays_used_through_the_skew_window_after_exp() {
        let f = fixture();
        let assertion = f.assertion(&claims());
        f.run(assertion.clone()).await.unwrap();
        // exp = NOW + 120; the assertion is still acceptable until exp + 60.
        assert_invalid_client(f.run_at(assertion, NOW + 120 + 59).await, "already used");
    }

    #[tokio::test]
    async fn expired_assertion_is_invalid_client() {
        let f = fixture();
        let c = with(
            with(claims(), "iat", json!(NOW - 300)),
            "exp",
            json!(NOW - 60),
        );
        assert_invalid_client(f.run(f.assertion(&c)).await, "expired");
        // Within the 60 s skew it still passes.
        let c = with(
            with(claims(), "iat", json!(NOW - 300)),
            "exp",
            json!(NOW - 59),
        );
        f.run(f.assertion(&c)).await.unwrap();
    }

    #[tokio::test]
    async fn lifetime_over_300_seconds_is_invalid_client() {
        let f = fixture();
        let c = with(claims(), "exp", json!(NOW + 301));
        assert_invalid_client(f.run(f.assertion(&c)).await, "exceeds 300");
        let no_iat = with(with(claims(), "iat", Value::Null), "exp", json!(NOW + 361));
        assert_invalid_client(f.run(f.assertion(&no_iat)).await, "exceeds 300");
        let no_iat_ok = with(with(claims(), "iat", Value::Null), "exp", json!(NOW + 360));
        f.run(f.assertion(&no_iat_ok)).await.unwrap();
    }

    #[tokio::test]
    async fn missing_exp_is_invalid_client() {
        let f = fixture();
        let c = with(claims(), "exp", Value::Null);
        assert_invalid_client(f.run(f.assertion(&c)).await, "exp missing");
    }

    #[tokio::test]
    async fn iat_or_nbf_in_the_future_is_invalid_client() {
        let f = fixture();
        let c = with(
            with(claims(), "iat", json!(NOW + 61)),
            "exp",
            json!(NOW + 200),
        );
        assert_invalid_client(f.run(f.assertion(&c)).await, "iat in the future");
        let c = with(claims(), "nbf", json!(NOW + 61));
        assert_invalid_client(f.run(f.assertion(&c)).await, "not yet valid");
    }

    /// An assertion whose `exp` is earlier than its `iat` is refused whatever the skew, even
    /// when both are within it of now.
    #[tokio::test]
    async fn assertion_expiring_before_it_was_issued_is_invalid_client() {
        let f = fixture();
        let c = with(
            with(claims(), "iat", json!(NOW + 30)),
            "exp",
            json!(NOW + 10),
        );
        assert_invalid_client(f.run(f.assertion(&c)).await, "exp is earlier than iat");
        let c = with(with(claims(), "iat", json!(NOW)), "exp", json!(NOW - 1));
        assert_invalid_client(f.run(f.assertion(&c)).await, "exp is earlier than iat");
    }

    #[tokio::test]
    async fn wrong_aud_is_invalid_client() {
        let f = fixture();
        for aud in [json!("https://auth.acme.test.evil"), json!([]), Value::Null] {
            let c = with(claims(), "aud", aud);
            assert_invalid_client(f.run(f.assertion(&c)).await, "aud does not name");
        }
    }

    #[tokio::test]
    async fn iss_differing_from_sub_is_invalid_client() {
        let f = fixture();
        let c = with(claims(), "iss", json!("c2"));
        assert_invalid_client(f.run(f.assertion(&c)).await, "iss and sub");
    }

    #[tokio::test]
    async fn missing_jti_is_invalid_client() {
        let f = fixture();
        let c = with(claims(), "jti", Value::Null);
        assert_invalid_client(f.run(f.assertion(&c)).await, "jti missing");
    }

    #[tokio::test]
    async fn alg_none_is_refused_before_key_lookup() {
        let f = fixture();
        let h = json!({"alg": "none", "kid": f.key.kid()});
        assert_invalid_client(
            f.run(format!("{}.{}.", b64(&h), b64(&claims()))).await,
            "assertion: JWS header",
        );
        assert_eq!(f.jwks.lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn hs256_is_refused_before_key_lookup() {
        let f = fixture();
        // The classic confusion attack: HMAC keyed with public key material.
        let h = json!({"alg": "HS256", "kid": f.key.kid()});
        let input = format!("{}.{}", b64(&h), b64(&claims()));
        let mac_key =
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, f.key.coordinates().0.as_bytes());
        let tag = ring::hmac::sign(&mac_key, input.as_bytes());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        assert_invalid_client(f.run(token).await, "HS256");
        assert_eq!(f.jwks.lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn unknown_kid_is_invalid_client() {
        let f = fixture();
        let h = json!({"alg": "ES256", "kid": "no-such-key"});
        assert_invalid_client(
            f.run(sign(&f.key, &h, &claims())).await,
            "client key: no key with kid no-such-key",
        );
    }

    #[tokio::test]
    async fn signature_by_another_key_is_invalid_client() {
        let f = fixture();
        let other = new_key();
        // The other key claims the registered key's kid.
        assert_invalid_client(
            f.run(sign(&other, &header(&f.key), &claims())).await,
            "assertion signature does not verify",
        );
    }

    #[tokio::test]
    async fn key_alg_differing_from_header_alg_is_invalid_client() {
        let key = new_key();
        let mut jwk = key.public_jwk();
        jwk["alg"] = json!("ES384");
        let mut f = fixture_with(json!({"keys": [jwk]}));
        f.key = key;
        assert_invalid_client(
            f.run(f.assertion(&claims())).await,
            "client key: key is for ES384, the JWS uses ES256",
        );
    }

    #[test]
    fn advertised_algorithms_exclude_none_and_hmac() {
        let f = fixture();
        assert_eq!(
            f.auth.signing_alg_values(),
            ["ES256", "ES384", "EdDSA", "PS256", "RS256"]
        );
        assert_eq!(f.auth.method(), TokenEndpointAuthMethod::PrivateKeyJwt);
        assert!(AllowedAlgorithms::new(&ALGORITHMS).is_ok());
    }

    #[tokio::test]
    async fn key_of_another_type_is_invalid_client() {
        // An RS256 assertion naming the client's EC key.
        let f = fixture();
        let h = json!({"alg": "RS256", "kid": f.key.kid()});
        assert_invalid_client(
            f.run(format!("{}.{}.c2ln", b64(&h), b64(&claims()))).await,
            "client key: key type does not fit RS256",
        );
    }
}
