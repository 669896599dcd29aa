//! The HTTP calls to this MCP server's own authorization server: `POST {issuer}/connect/token`
//! (RFC 8693 token exchange) and `POST {issuer}/connect/status` (completion long-poll), both
//! authenticated with `client_secret_basic` (RFC 6749 §2.3.1).

use std::time::Duration;

use mcp_auth_core::Secret;
use serde::Deserialize;

use super::credential::{ACCESS_TOKEN_TYPE, API_KEY_TYPE, Credential, CredentialKind};
use super::subject::SubjectToken;

/// RFC 8693 §2.1 `grant_type`.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Longest wait asked of `/connect/status` (the contract allows 0..30): 25 seconds.
pub(crate) const STATUS_WAIT_SECS: u64 = 25;

/// The elicitation the authorization server created (400 `connection_required`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct AsElicitation {
    pub id: String,
    pub url: String,
    pub expires_in: u64,
    #[serde(default)]
    pub connection: String,
    pub message: String,
}

/// What `/connect/token` answered.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// 200 with a credential.
    Credential(Credential),
    /// 400 `connection_required`.
    ConnectionRequired(AsElicitation),
    /// 400 `invalid_grant`: the subject token is not usable (no user, expired, revoked,
    /// another server's).
    InvalidGrant,
    /// 429.
    TooManyRequests,
    /// Any other OAuth error (`invalid_client`, `invalid_target`, `invalid_request`...).
    Refused(String),
    /// No answer, a 5xx, or an answer that is not the contract's shape.
    Unavailable,
}

/// The elicitation status `/connect/status` reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// `pending` or `in_progress`.
    Open,
    /// `completed`.
    Completed,
    /// `failed`, `cancelled`, `expired`, or 404 (unknown, or not ours).
    Finished,
}

/// A client of the authorization server's connection endpoints.
#[derive(Clone)]
pub(crate) struct AsClient {
    http: reqwest::Client,
    token_endpoint: String,
    status_endpoint: String,
    client_id: String,
    client_secret: Secret,
}

impl AsClient {
    pub(crate) fn new(issuer: &str, client_id: String, client_secret: Secret) -> Self {
        let issuer = issuer.trim_end_matches('/');
        // Each request sets its own total timeout (`post`), overriding the client's.
        let http = mcp_auth_outbound::OutboundClient::builder()
            .timeouts(Duration::from_secs(5), Duration::from_secs(30))
            .addresses(mcp_auth_outbound::AddressPolicy::AnyConfigured)
            .allow_http()
            .env_proxy()
            .build()
            .map(|c| c.http().clone())
            .unwrap_or_default();
        Self {
            http,
            token_endpoint: format!("{issuer}/connect/token"),
            status_endpoint: format!("{issuer}/connect/status"),
            client_id,
            client_secret,
        }
    }

    fn post(&self, url: &str, timeout: Duration) -> reqwest::RequestBuilder {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        self.http
            .post(url)
            .timeout(timeout)
            .basic_auth(enc(&self.client_id), Some(enc(self.client_secret.expose())))
            .header(http::header::ACCEPT, "application/json")
    }

    /// The RFC 8693 exchange of the user's MCP access token for the `connection` credential.
    pub(crate) async fn exchange(&self, subject: &SubjectToken, connection: &str) -> Exchange {
        let form = [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject.expose()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", connection),
        ];
        let Ok(resp) = self
            .post(&self.token_endpoint, Duration::from_secs(15))
            .form(&form)
            .send()
            .await
        else {
            return Exchange::Unavailable;
        };
        let status = resp.status();
        let Ok(body) = resp.json::<serde_json::Value>().await else {
            return Exchange::Unavailable;
        };
        if status.is_success() {
            return parse_credential(&body).map_or(Exchange::Unavailable, Exchange::Credential);
        }
        if status.as_u16() == 429 {
            return Exchange::TooManyRequests;
        }
        if status.is_server_error() {
            return Exchange::Unavailable;
        }
        let code = body.get("error").and_then(|v| v.as_str()).unwrap_or("");
        match code {
            "connection_required" => body
                .get("elicitation")
                .cloned()
                .and_then(|e| serde_json::from_value::<AsElicitation>(e).ok())
                .filter(|e| !e.id.is_empty() && !e.url.is_empty())
                .map_or(Exchange::Unavailable, Exchange::ConnectionRequired),
            "invalid_grant" => Exchange::InvalidGrant,
            "" => Exchange::Unavailable,
            other => Exchange::Refused(other.to_owned()),
        }
    }

    /// One long-poll of `/connect/status` for `elicitation_id`, waiting up to `wait` seconds.
    ///
    /// # Errors
    /// `Err(())` when the authorization server did not answer usefully (network, 5xx, shape):
    /// the caller retries later.
    pub(crate) async fn status(&self, elicitation_id: &str, wait: u64) -> Result<Status, ()> {
        let wait_text = wait.to_string();
        let form = [
            ("elicitation_id", elicitation_id),
            ("wait", wait_text.as_str()),
        ];
        let resp = self
            .post(&self.status_endpoint, Duration::from_secs(wait + 10))
            .form(&form)
            .send()
            .await
            .map_err(|_| ())?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Status::Finished);
        }
        if !resp.status().is_success() {
            return Err(());
        }
        let body: serde_json::Value = resp.json().await.map_err(|_| ())?;
        match body.get("status").and_then(|v| v.as_str()) {
            Some("pending" | "in_progress") => Ok(Status::Open),
            Some("completed") => Ok(Status::Completed),
            Some("failed" | "cancelled" | "expired") => Ok(Status::Finished),
            _ => Err(()),
        }
    }
}

/// The credential of a 200 answer; `None` when `access_token` is missing or the token type is
/// unknown (fail closed).
fn parse_credential(body: &serde_json::Value) -> Option<Credential> {
    let token = body.get("access_token")?.as_str()?;
    if token.is_empty() {
        return None;
    }
    let kind = match body.get("issued_token_type").and_then(|v| v.as_str()) {
        Some(ACCESS_TOKEN_TYPE) => CredentialKind::AccessToken,
        Some(API_KEY_TYPE) => CredentialKind::ApiKey,
        _ => return None,
    };
    Some(Credential {
        secret: Secret::new(token),
        kind,
        expires_in: body.get("expires_in").and_then(|v| v.as_u64()),
        scope: body
            .get("scope")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    })
}
