//! The two calls after the callback: the token request (OIDC Core §3.1.3.1, client_secret_basic
//! or private_key_jwt, PKCE `code_verifier`) and userinfo (OIDC Core §5.3). The upstream's
//! tokens live only in these functions' return values; they are never stored or logged.

use mcp_auth_core::Secret;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::Upstream;
use super::client_assertion::CLIENT_ASSERTION_TYPE;
use super::metadata::ProviderMetadata;
use crate::config::UpstreamKind;

/// Why the token request or userinfo call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The upstream could not be reached or answered with something unusable (`503`).
    #[error("the identity provider could not be reached")]
    Unreachable,
    /// The upstream refused the code (an OAuth error response).
    #[error("the identity provider refused the sign-in")]
    Refused,
    /// The token response carried no ID token.
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    /// userinfo's `sub` is not the ID token's (OIDC Core §5.3.2).
    #[error("userinfo names another subject")]
    UserinfoSubject,
}

/// The token response's tokens. `Debug` redacts them.
#[derive(Deserialize)]
pub struct UpstreamTokens {
    /// Used once, for userinfo.
    access_token: Option<Secret>,
    /// Verified, then dropped.
    id_token: Option<Secret>,
    /// An OAuth error code; GitHub answers a refused code with `200` and this member.
    #[serde(default)]
    error: Option<String>,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamTokens([redacted])")
    }
}

impl UpstreamTokens {
    /// The ID token.
    ///
    /// # Errors
    /// [`ExchangeError::NoIdToken`].
    pub fn id_token(&self) -> Result<&str, ExchangeError> {
        self.id_token
            .as_ref()
            .map(Secret::expose)
            .ok_or(ExchangeError::NoIdToken)
    }

    /// The access token.
    ///
    /// # Errors
    /// [`ExchangeError::Refused`] when the response had none.
    pub fn access_token(&self) -> Result<&str, ExchangeError> {
        self.access_token
            .as_ref()
            .map(Secret::expose)
            .ok_or(ExchangeError::Refused)
    }
}

impl Upstream {
    /// Redeem `code` at the token endpoint with `verifier` and `redirect_uri`. The client
    /// authenticates with `assertion` when given (`private_key_jwt`: `client_assertion_type`,
    /// `client_assertion` and `client_id` in the body, RFC 7523 §2.2), else with HTTP Basic
    /// (`client_secret_basic`), or for GitHub, which documents only form parameters, with
    /// `client_id` and `client_secret` in the body.
    ///
    /// # Errors
    /// [`ExchangeError::Unreachable`] on a transport failure, a 5xx or an unreadable body;
    /// [`ExchangeError::Refused`] on an OAuth error response (also one sent with `200`).
    pub async fn redeem(
        &self,
        metadata: &ProviderMetadata,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        assertion: Option<&Secret>,
    ) -> Result<UpstreamTokens, ExchangeError> {
        let github = self.config.kind == UpstreamKind::Github;
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", verifier);
            if let Some(assertion) = assertion {
                form.append_pair("client_id", &self.config.client_id)
                    .append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE)
                    .append_pair("client_assertion", assertion.expose());
            } else if github {
                form.append_pair("client_id", &self.config.client_id)
                    .append_pair("client_secret", self.client_secret());
            }
            form.finish()
        };
        let mut request = self.http.http().post(metadata.token_endpoint.clone());
        if !github && assertion.is_none() {
            request = request.basic_auth(
                form_encode(&self.config.client_id),
                Some(form_encode(self.client_secret())),
            );
        }
        let response = request
            .body(body)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| self.unreachable("token request", &e.to_string()))?;
        let status = response.status();
        let bytes = mcp_auth_outbound::read_body_limited(response, self.http.max_body_bytes())
            .await
            .map_err(|e| self.unreachable("token response", &e.to_string()))?;
        if status.is_server_error() {
            return Err(self.unreachable("token response", status.as_str()));
        }
        if !status.is_success() {
            tracing::info!(upstream = %self.config.name, status = status.as_u16(), "upstream refused the code");
            return Err(ExchangeError::Refused);
        }
        let tokens: UpstreamTokens = serde_json::from_slice(&bytes)
            .map_err(|_| self.unreachable("token response", "not JSON"))?;
        if tokens.error.is_some() {
            tracing::info!(upstream = %self.config.name, "upstream refused the code");
            return Err(ExchangeError::Refused);
        }
        Ok(tokens)
    }

    /// The userinfo claims for `tokens`' access token, when `sub` matches.
    ///
    /// # Errors
    /// As [`Self::redeem`]; [`ExchangeError::UserinfoSubject`] when userinfo names another
    /// `sub`.
    pub async fn userinfo(
        &self,
        endpoint: &Url,
        tokens: &UpstreamTokens,
        sub: &str,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let Some(access_token) = tokens.access_token.as_ref() else {
            return Err(ExchangeError::Refused);
        };
        let response = self
            .http
            .http()
            .get(endpoint.clone())
            .bearer_auth(access_token.expose())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| self.unreachable("userinfo", &e.to_string()))?;
        let status = response.status();
        let bytes = mcp_auth_outbound::read_body_limited(response, self.http.max_body_bytes())
            .await
            .map_err(|e| self.unreachable("userinfo", &e.to_string()))?;
        if !status.is_success() {
            return Err(self.unreachable("userinfo", status.as_str()));
        }
        let claims: Map<String, Value> = serde_json::from_slice(&bytes)
            .map_err(|_| self.unreachable("userinfo", "not a JSON object"))?;
        if claims.get("sub").and_then(Value::as_str) != Some(sub) {
            return Err(ExchangeError::UserinfoSubject);
        }
        Ok(claims)
    }

    /// Log a failed call (naming the upstream and the call, never a token) as
    /// [`ExchangeError::Unreachable`].
    pub(super) fn unreachable(&self, call: &str, reason: &str) -> ExchangeError {
        tracing::warn!(upstream = %self.config.name, call, reason, "upstream call failed");
        ExchangeError::Unreachable
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before HTTP Basic.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
