//! `kind = "github"`: GitHub is an OAuth 2 provider, not an OpenID Provider. Its endpoints are
//! fixed under the configured `issuer` (`/login/oauth/authorize`, `/login/oauth/access_token`,
//! authorization code with PKCE S256), and who signed in is read from its REST API with the
//! access token: `/user` for the account (its numeric `id` is the stable `sub`; the login can
//! be renamed) and `/user/emails` for the primary address, which counts only when GitHub has
//! verified it. The access token is used for these two calls and dropped.
//!
//! The claims handed to the sign-in rules: `sub` (the account id as a string), `login`,
//! `preferred_username` (the login), `name` (when set), `email` and `email_verified = true`
//! (only for a verified primary address; otherwise neither).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::exchange::ExchangeError;
use super::metadata::ProviderMetadata;
use super::{Upstream, UpstreamError};

/// The media type GitHub's REST API answers with.
const GITHUB_JSON: &str = "application/vnd.github+json";

/// The part of `GET /user` read here.
#[derive(Deserialize)]
struct Account {
    id: u64,
    login: String,
    name: Option<String>,
}

/// One entry of `GET /user/emails`.
#[derive(Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

impl Upstream {
    /// GitHub's endpoints under `issuer` and `github_api_url` (already checked at start).
    ///
    /// # Errors
    /// [`UpstreamError::Url`]: a URL that does not pass [`super::checked_url`] (for logs).
    pub(super) fn github_metadata(&self) -> Result<ProviderMetadata, UpstreamError> {
        let allow = self.config.insecure_allow_http_loopback;
        let base = self.config.issuer.trim_end_matches('/');
        let api = self
            .config
            .github_api_url
            .as_deref()
            .unwrap_or(crate::config::GITHUB_API_URL)
            .trim_end_matches('/');
        Ok(ProviderMetadata {
            authorization_endpoint: super::checked_url(
                &format!("{base}/login/oauth/authorize"),
                allow,
            )
            .map_err(UpstreamError::url("authorization_endpoint"))?,
            token_endpoint: super::checked_url(&format!("{base}/login/oauth/access_token"), allow)
                .map_err(UpstreamError::url("token_endpoint"))?,
            userinfo_endpoint: Some(
                super::checked_url(&format!("{api}/user"), allow)
                    .map_err(UpstreamError::url("userinfo_endpoint"))?,
            ),
            jwks_uri: String::new(),
            iss_parameter_supported: false,
        })
    }

    /// Who signed in at GitHub: redeem `code` (with the PKCE `verifier`), then read `/user`
    /// and `/user/emails` with the access token.
    ///
    /// # Errors
    /// [`ExchangeError::Refused`] when GitHub refuses the code (GitHub answers `200` with an
    /// `error` member) or gives no access token; [`ExchangeError::Unreachable`] when a call
    /// fails or answers something unusable.
    pub async fn github_claims(
        &self,
        metadata: &ProviderMetadata,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let tokens = self
            .redeem(metadata, code, verifier, redirect_uri, None)
            .await?;
        let access_token = tokens.access_token()?;
        let user_url = metadata
            .userinfo_endpoint
            .clone()
            .ok_or(ExchangeError::Unreachable)?;
        let account: Account = self.github_get(&user_url, access_token).await?;
        let emails_url =
            Url::parse(&format!("{user_url}/emails")).map_err(|_| ExchangeError::Unreachable)?;
        let emails: Vec<Email> = self.github_get(&emails_url, access_token).await?;
        Ok(claims(&account, &emails))
    }

    async fn github_get<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        access_token: &str,
    ) -> Result<T, ExchangeError> {
        let response = self
            .http
            .http()
            .get(url.clone())
            .bearer_auth(access_token)
            .header("accept", GITHUB_JSON)
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .map_err(|e| self.unreachable("github api", &e.to_string()))?;
        let status = response.status();
        let bytes = mcp_auth_outbound::read_body_limited(response, self.http.max_body_bytes())
            .await
            .map_err(|e| self.unreachable("github api", &e.to_string()))?;
        if !status.is_success() {
            return Err(self.unreachable("github api", status.as_str()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| self.unreachable("github api", "unexpected JSON"))
    }
}

/// The sign-in claims of a GitHub account and its addresses.
fn claims(account: &Account, emails: &[Email]) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(account.id.to_string()));
    claims.insert("login".into(), json!(account.login));
    claims.insert("preferred_username".into(), json!(account.login));
    if let Some(name) = account.name.as_deref().filter(|n| !n.is_empty()) {
        claims.insert("name".into(), json!(name));
    }
    if let Some(primary) = emails.iter().find(|e| e.primary && e.verified) {
        claims.insert("email".into(), json!(primary.email));
        claims.insert("email_verified".into(), json!(true));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(address: &str, primary: bool, verified: bool) -> Email {
        Email {
            email: address.into(),
            primary,
            verified,
        }
    }

    #[test]
    fn the_account_id_is_the_subject_and_only_a_verified_primary_address_counts() {
        let account = Account {
            id: 583231,
            login: "octocat".into(),
            name: Some("The Octocat".into()),
        };
        let c = claims(
            &account,
            &[
                email("other@example.com", false, true),
                email("octocat@github.example", true, true),
            ],
        );
        assert_eq!(
            Value::Object(c),
            json!({"sub": "583231", "login": "octocat", "preferred_username": "octocat",
                   "name": "The Octocat", "email": "octocat@github.example",
                   "email_verified": true})
        );
        let unverified = claims(
            &account,
            &[
                email("octocat@github.example", true, false),
                email("other@example.com", false, true),
            ],
        );
        assert!(!unverified.contains_key("email"), "{unverified:?}");
        assert!(!unverified.contains_key("email_verified"));
    }
}
