//! Client authentication of a token request (RFC 6749 §2.3.1, RFC 7523 §2.2) with the
//! [`ClientAuth`] choices of `mcp-auth-ext-client-credentials`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_auth_core::UnixTime;
use mcp_auth_outbound::client::{CLIENT_ASSERTION_TYPE, ClientAuth};

use super::XaaClientError;

/// Lifetime of `private_key_jwt` assertions, seconds.
pub(crate) const ASSERTION_LIFETIME: i64 = 60;

/// `s` form-encoded (`application/x-www-form-urlencoded`).
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Add `auth` to a token request: the form members it needs, and the `Authorization` header
/// value for `client_secret_basic`. A `private_key_jwt` assertion has `aud` = `audience`.
///
/// # Errors
/// [`XaaClientError::Key`] when the assertion cannot be signed;
/// [`XaaClientError::Unsupported`] for a method this helper does not know.
pub(crate) fn authenticate(
    auth: &ClientAuth,
    audience: &str,
    now: UnixTime,
    form: &mut Vec<(&'static str, String)>,
) -> Result<Option<String>, XaaClientError> {
    match auth {
        ClientAuth::SecretBasic { client_id, secret } => Ok(Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret.expose())))
        ))),
        ClientAuth::SecretPost { client_id, secret } => {
            form.push(("client_id", client_id.clone()));
            form.push(("client_secret", secret.expose().to_owned()));
            Ok(None)
        }
        ClientAuth::PrivateKeyJwt { client_id, key } => {
            let assertion = key
                .assertion(client_id, audience, now, ASSERTION_LIFETIME)
                .map_err(|e| XaaClientError::key(e.to_string()))?;
            form.push(("client_id", client_id.clone()));
            form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()));
            form.push(("client_assertion", assertion));
            Ok(None)
        }
        other => Err(XaaClientError::unsupported(format!(
            "client authentication {}",
            other.method()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_encodes_id_and_secret_per_rfc_6749() {
        let mut form = Vec::new();
        let header = authenticate(&ClientAuth::secret_basic("a b", "p:w"), "x", 0, &mut form)
            .unwrap()
            .unwrap();
        assert_eq!(header, format!("Basic {}", STANDARD.encode("a+b:p%3Aw")));
        assert!(form.is_empty());
    }

    #[test]
    fn post_puts_the_secret_in_the_form() {
        let mut form = Vec::new();
        let header = authenticate(&ClientAuth::secret_post("c", "s"), "x", 0, &mut form).unwrap();
        assert_eq!(header, None);
        assert_eq!(
            form,
            vec![
                ("client_id", "c".to_owned()),
                ("client_secret", "s".to_owned())
            ]
        );
    }
}
