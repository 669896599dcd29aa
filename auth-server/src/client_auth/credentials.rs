//! Reading the client credentials of a token-endpoint request (RFC 6749 §2.3.1, RFC 7523 §2.2,
//! spec §2.3).

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use mcp_auth_core::error::OAuthError;
use mcp_auth_core::ext::PresentedCredentials;
use mcp_auth_core::params::FormParams;
use mcp_auth_core::secret::Secret;
use mcp_auth_core::types::ClientId;

use super::AuthFailure;

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Standard base64 (RFC 4648 §4), padding optional: what HTTP Basic uses (RFC 7617 §2).
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials of one token-endpoint request, from its `Authorization` header value and its
/// form body.
///
/// - `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` →
///   [`PresentedCredentials::SecretBasic`]; both parts are form-url-decoded (`+` is a space). A body
///   `client_id`, if present, must equal the Basic user.
/// - `client_id` + `client_secret` in the body → [`PresentedCredentials::SecretPost`].
/// - `client_assertion_type` = [`CLIENT_ASSERTION_TYPE_JWT_BEARER`] + `client_assertion` →
///   [`PresentedCredentials::JwtAssertion`]; the client is the assertion's `sub`, read *without*
///   checking the signature (the authenticator does that). A body `client_id`, if present, must
///   equal it.
/// - only `client_id` → [`PresentedCredentials::None`].
/// - nothing that names a client → `Ok(None)`.
///
/// # Errors
/// - `invalid_request`: two methods in one request (spec AS-25), a body `client_id` that differs
///   from the Basic user or the assertion `sub`, an `Authorization` scheme other than Basic, a
///   wrong or lone `client_assertion_type`, a `client_assertion` without its type, a
///   `client_secret` without `client_id`, an invalid body `client_id`.
/// - `invalid_client` with the `Basic` challenge: a malformed Basic header (bad base64, no colon,
///   not UTF-8, invalid client id).
/// - `invalid_client`: an assertion whose payload is not a JSON object with a valid `sub`.
pub fn extract_credentials(
    authorization: Option<&str>,
    params: &FormParams,
) -> Result<Option<PresentedCredentials>, OAuthError> {
    let basic = authorization.map(parse_basic).transpose()?;
    let body_client_id = params
        .get("client_id")
        .map(|id| {
            id.parse::<ClientId>()
                .map_err(|e| OAuthError::invalid_request(format!("invalid client_id: {e}")))
        })
        .transpose()?;
    let secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let assertion_type = params.get("client_assertion_type");

    let uses_assertion = assertion.is_some() || assertion_type.is_some();
    let methods =
        usize::from(basic.is_some()) + usize::from(secret.is_some()) + usize::from(uses_assertion);
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method used",
        ));
    }

    if let Some((client_id, secret)) = basic {
        if body_client_id.is_some_and(|body| body != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the Authorization header",
            ));
        }
        return Ok(Some(PresentedCredentials::SecretBasic {
            client_id,
            secret,
        }));
    }

    if let Some(secret) = secret {
        let client_id = body_client_id
            .ok_or_else(|| OAuthError::invalid_request("client_secret requires client_id"))?;
        return Ok(Some(PresentedCredentials::SecretPost {
            client_id,
            secret: Secret::new(secret),
        }));
    }

    if uses_assertion {
        match assertion_type {
            Some(CLIENT_ASSERTION_TYPE_JWT_BEARER) => {}
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "unsupported client_assertion_type",
                ));
            }
            None => return Err(OAuthError::invalid_request("missing client_assertion_type")),
        }
        let assertion = assertion
            .ok_or_else(|| OAuthError::invalid_request("missing parameter client_assertion"))?;
        let client_id = unverified_subject(assertion)?;
        if body_client_id.is_some_and(|body| body != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the client_assertion subject",
            ));
        }
        return Ok(Some(PresentedCredentials::JwtAssertion {
            client_id,
            assertion: Secret::new(assertion),
        }));
    }

    Ok(body_client_id.map(|client_id| PresentedCredentials::None { client_id }))
}

/// Parse `Authorization: Basic …` (RFC 7617 §2, RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Result<(ClientId, Secret), OAuthError> {
    let header = header.trim();
    let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_request(
            "unsupported Authorization scheme at the token endpoint",
        ));
    }
    let decoded = BASIC_BASE64
        .decode(value.trim())
        .map_err(|_| AuthFailure::invalid_client_basic("Basic credentials are not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| AuthFailure::invalid_client_basic("Basic credentials are not UTF-8"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| AuthFailure::invalid_client_basic("Basic credentials have no colon"))?;
    let id = form_url_decode(id)
        .ok_or_else(|| AuthFailure::invalid_client_basic("Basic user is not UTF-8"))?;
    let secret = form_url_decode(secret)
        .ok_or_else(|| AuthFailure::invalid_client_basic("Basic password is not UTF-8"))?;
    let client_id = id
        .parse::<ClientId>()
        .map_err(|_| AuthFailure::invalid_client_basic("Basic user is not a valid client_id"))?;
    Ok((client_id, Secret::new(secret)))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte; a
/// `%` not followed by two hex digits stays as it is (WHATWG URL, urlencoded parser). `None` when
/// the bytes are not UTF-8.
fn form_url_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match b? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The one member of an assertion's claims read before its signature is checked. Other members
/// are skipped unread; a `sub` given twice is refused.
#[derive(serde::Deserialize)]
struct UnverifiedClaims {
    sub: Option<serde_json::Value>,
}

/// The `sub` of a compact JWT, read without any signature check: base64url-decode the payload
/// segment and read it as a JSON object. Errors are `invalid_client`.
fn unverified_subject(assertion: &str) -> Result<ClientId, OAuthError> {
    let mut parts = assertion.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::invalid_client(
            "client_assertion is not a compact JWS",
        ));
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AuthFailure::invalid_client("client_assertion payload is not base64url"))?;
    if !mcp_auth_core::jose::is_json_object_text(&payload) {
        return Err(AuthFailure::invalid_client(
            "client_assertion payload is not a JSON object",
        ));
    }
    let claims: UnverifiedClaims = serde_json::from_slice(&payload)
        .map_err(|_| AuthFailure::invalid_client("client_assertion payload is not JSON"))?;
    claims
        .sub
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|sub| sub.parse::<ClientId>().ok())
        .ok_or_else(|| AuthFailure::invalid_client("client_assertion has no valid sub"))
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use mcp_auth_core::error::{ChallengeHint, ErrorCode};

    use super::*;

    fn params(pairs: &[(&str, &str)]) -> FormParams {
        FormParams::from_pairs(pairs.iter().copied()).unwrap()
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    /// An unsigned JWT whose payload is `claims` (the signature is not read here).
    fn assertion(claims: serde_json::Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn err(authorization: Option<&str>, pairs: &[(&str, &str)]) -> OAuthError {
        extract_credentials(authorization, &params(pairs)).unwrap_err()
    }

    #[test]
    fn basic_header_is_secret_basic() {
        let got = extract_credentials(Some(&basic("c1:s3cret")), &params(&[])).unwrap();
        let Some(PresentedCredentials::SecretBasic { client_id, secret }) = got else {
            panic!("expected SecretBasic, got {got:?}");
        };
        assert_eq!(client_id.as_str(), "c1");
        assert_eq!(secret.expose(), "s3cret");
    }

    /// RFC 6749 §2.3.1: id and secret are form-url-encoded before base64; `%3A` is a colon in
    /// the id, `+` is a space.
    #[test]
    fn basic_with_url_encoded_colon_in_id_decodes_right() {
        let header = basic("urn%3Aacme%3Aclient:pa%2Bss+word%3A");
        let got = extract_credentials(Some(&header), &params(&[])).unwrap();
        let Some(PresentedCredentials::SecretBasic { client_id, secret }) = got else {
            panic!("expected SecretBasic, got {got:?}");
        };
        assert_eq!(client_id.as_str(), "urn:acme:client");
        assert_eq!(secret.expose(), "pa+ss word:");
    }

    #[test]
    fn basic_scheme_is_case_insensitive_and_padding_optional() {
        let header = format!("bAsIc {}", STANDARD.encode("ab:c").trim_end_matches('='));
        let got = extract_credentials(Some(&header), &params(&[])).unwrap();
        assert_eq!(got.unwrap().client_id().as_str(), "ab");
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_basic_challenge() {
        let not_base64 = "Basic !!!".to_owned();
        let no_colon = basic("c1");
        let not_utf8 = format!("Basic {}", STANDARD.encode([0x63, 0xff, b':', b'x']));
        let bad_percent_utf8 = basic("c%FF:x");
        for header in [not_base64, no_colon, not_utf8, bad_percent_utf8] {
            let e = err(Some(&header), &[]);
            assert_eq!(e.code(), ErrorCode::InvalidClient, "{header}");
            assert_eq!(e.challenge(), ChallengeHint::Basic, "{header}");
        }
    }

    #[test]
    fn non_basic_authorization_scheme_is_invalid_request() {
        let e = err(Some("Bearer abc"), &[("client_id", "c1")]);
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn body_secret_is_secret_post() {
        let got = extract_credentials(
            None,
            &params(&[("client_id", "c1"), ("client_secret", "s")]),
        )
        .unwrap();
        let Some(PresentedCredentials::SecretPost { client_id, secret }) = got else {
            panic!("expected SecretPost, got {got:?}");
        };
        assert_eq!(client_id.as_str(), "c1");
        assert_eq!(secret.expose(), "s");
    }

    #[test]
    fn secret_without_client_id_is_invalid_request() {
        let e = err(None, &[("client_secret", "s")]);
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn client_id_alone_is_none_method() {
        let got = extract_credentials(None, &params(&[("client_id", "pub_1")])).unwrap();
        assert!(
            matches!(got, Some(PresentedCredentials::None { client_id }) if client_id.as_str() == "pub_1")
        );
    }

    #[test]
    fn nothing_identifying_a_client_is_ok_none() {
        let got = extract_credentials(None, &params(&[("grant_type", "client_credentials")]));
        assert!(got.unwrap().is_none());
    }

    #[test]
    fn assertion_is_jwt_assertion_with_unverified_sub() {
        let jwt = assertion(serde_json::json!({"iss": "c1", "sub": "c1"}));
        let got = extract_credentials(
            None,
            &params(&[
                ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                ("client_assertion", &jwt),
                ("client_id", "c1"),
            ]),
        )
        .unwrap();
        let Some(PresentedCredentials::JwtAssertion {
            client_id,
            assertion,
        }) = got
        else {
            panic!("expected JwtAssertion, got {got:?}");
        };
        assert_eq!(client_id.as_str(), "c1");
        assert_eq!(assertion.expose(), jwt);
    }

    #[test]
    fn wrong_assertion_type_is_invalid_request() {
        let jwt = assertion(serde_json::json!({"sub": "c1"}));
        let e = err(
            None,
            &[
                ("client_assertion_type", "urn:example:saml"),
                ("client_assertion", &jwt),
            ],
        );
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        let e = err(None, &[("client_assertion", &jwt)]);
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn assertion_sub_differing_from_client_id_is_invalid_request() {
        let jwt = assertion(serde_json::json!({"sub": "c1"}));
        let e = err(
            None,
            &[
                ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                ("client_assertion", &jwt),
                ("client_id", "c2"),
            ],
        );
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
    }

    /// An assertion whose claims are not one JSON object with one string `sub` naming a client is
    /// `invalid_client`, whatever else is wrong with it.
    #[test]
    fn unreadable_assertion_is_invalid_client() {
        let raw = |payload: &str| {
            format!(
                "{}.{}.c2ln",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
                URL_SAFE_NO_PAD.encode(payload)
            )
        };
        for jwt in [
            "not-a-jwt".to_owned(),
            assertion(serde_json::json!({"iss": "c1"})),
            assertion(serde_json::json!({"sub": 7})),
            // Shapes a derived struct or a last-member-wins map would read another way.
            raw(r#"["c1"]"#),
            raw(r#"{"sub":"c1","sub":"c2"}"#),
            raw(r#" {"sub":"c1"} x"#),
        ] {
            let e = err(
                None,
                &[
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                    ("client_assertion", &jwt),
                ],
            );
            assert_eq!(e.code(), ErrorCode::InvalidClient);
            assert_eq!(e.challenge(), ChallengeHint::None);
        }
    }

    /// AS-25: a token request using two client authentication methods is `invalid_request`.
    #[test]
    fn two_methods_are_invalid_request() {
        let jwt = assertion(serde_json::json!({"sub": "c1"}));
        let header = basic("c1:s");
        type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);
        let cases: [Case<'_>; 3] = [
            (Some(&header), vec![("client_secret", "s")]),
            (
                Some(&header),
                vec![
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                    ("client_assertion", &jwt),
                ],
            ),
            (
                None,
                vec![
                    ("client_id", "c1"),
                    ("client_secret", "s"),
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
                    ("client_assertion", &jwt),
                ],
            ),
        ];
        for (authorization, pairs) in cases {
            let e = err(authorization, &pairs);
            assert_eq!(e.code(), ErrorCode::InvalidRequest, "{pairs:?}");
        }
    }

    #[test]
    fn body_client_id_differing_from_basic_user_is_invalid_request() {
        let e = err(Some(&basic("c1:s")), &[("client_id", "c2")]);
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        // The same id in both places is fine.
        let ok = extract_credentials(Some(&basic("c1:s")), &params(&[("client_id", "c1")]));
        assert!(matches!(
            ok,
            Ok(Some(PresentedCredentials::SecretBasic { .. }))
        ));
    }
}
