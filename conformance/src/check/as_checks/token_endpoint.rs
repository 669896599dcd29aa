//! Token endpoint errors: an unknown grant type (RFC 6749 §5.2), `invalid_client` with a Basic
//! challenge, and two client authentication methods at once.

use super::{ClientAuth, FlowClient, Run};
use crate::check::browser::random_token;
use crate::check::http::basic;
use crate::check::report::{CheckId, Outcome};

/// RFC 6749 §5.2: unknown grant type.
pub const AS_GRANT: CheckId = CheckId::ours(
    "AS-TOKEN-01",
    "an unknown grant_type gets unsupported_grant_type",
);
/// AS-19: Basic `invalid_client` is 401 with `WWW-Authenticate: Basic`.
pub const AS_19: CheckId = CheckId::ours(
    "AS-19",
    "invalid_client after Basic authentication is 401 with WWW-Authenticate: Basic",
);
/// AS-25: two client authentication methods.
pub const AS_25: CheckId = CheckId::ours(
    "AS-25",
    "a token request with two client authentication methods is refused",
);

impl Run<'_> {
    pub(super) async fn token_endpoint_errors(&mut self) {
        let Some(token) = self.token_endpoint() else {
            self.report.skip(AS_GRANT, "no token_endpoint");
            self.report.skip(AS_19, "no token_endpoint");
            return;
        };
        // With the operator's client when there is one: many servers authenticate first.
        let authz = match (&self.opts.client_id, &self.opts.client_secret) {
            (Some(id), Some(secret)) => Some(basic(id, secret.expose())),
            _ => None,
        };
        let mut params = vec![("grant_type", "urn:mcp-auth-conformance:no-such-grant")];
        if let (Some(id), None) = (&self.opts.client_id, &authz) {
            params.push(("client_id", id));
        }
        let ex = self.http.post_form(&token, &params, authz.as_deref()).await;
        let ok = ex.status == 400 && ex.error().as_deref() == Some("unsupported_grant_type");
        // Without a client, a refusal for missing client authentication is allowed.
        let auth_first = authz.is_none()
            && matches!(
                ex.error().as_deref(),
                Some("invalid_client" | "invalid_request")
            );
        self.report.add(
            AS_GRANT,
            if ok {
                Outcome::Pass
            } else if auth_first {
                Outcome::Warn
            } else {
                Outcome::Fail
            },
            format!("{} {}", ex.status, ex.error().unwrap_or_default()),
            (!ok).then(|| ex.summary()),
        );
        let bogus = format!("mcp-auth-conformance-unknown-{}", random_token(6));
        let ex = self
            .http
            .post_form(
                &token,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "not-a-code"),
                    ("redirect_uri", &self.opts.redirect_uri),
                    ("code_verifier", &random_token(32)),
                ],
                Some(&basic(&bogus, "wrong-secret")),
            )
            .await;
        let challenge = ex
            .header("www-authenticate")
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic"));
        let ok = ex.status == 401 && ex.error().as_deref() == Some("invalid_client") && challenge;
        self.report.expect(
            AS_19,
            ok,
            Outcome::Fail,
            format!(
                "{} {} WWW-Authenticate {:?}",
                ex.status,
                ex.error().unwrap_or_default(),
                ex.header("www-authenticate").unwrap_or("(none)")
            ),
            Some(ex.summary()),
        );
    }

    /// AS-25: Basic and `client_secret` in the body at once.
    pub(super) async fn two_auth_methods(&mut self, client: &FlowClient) {
        let secret = match &client.auth {
            ClientAuth::Basic(s) | ClientAuth::Post(s) => s.clone(),
            ClientAuth::None => {
                return self
                    .report
                    .skip(AS_25, "a public client (no --client-secret)");
            }
        };
        match self.get_code(client).await {
            Err(why) => self.cannot(&[AS_25], why),
            Ok((code, pkce)) => {
                let token = self.token_endpoint().unwrap_or_default();
                let mut p = vec![
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", self.opts.redirect_uri.as_str()),
                    ("code_verifier", pkce.verifier.as_str()),
                    ("client_id", client.id.as_str()),
                    ("client_secret", secret.expose()),
                ];
                if let Some(r) = &self.opts.resource {
                    p.push(("resource", r));
                }
                let ex = self
                    .http
                    .post_form(&token, &p, Some(&basic(&client.id, secret.expose())))
                    .await;
                let err = ex.error().unwrap_or_default();
                let outcome = match (ex.status, err.as_str()) {
                    (400, "invalid_request") => Outcome::Pass,
                    (400 | 401, _) => Outcome::Warn,
                    _ => Outcome::Fail,
                };
                self.report.add(
                    AS_25,
                    outcome,
                    format!("{} {err}", ex.status),
                    (outcome != Outcome::Pass).then(|| ex.summary()),
                );
            }
        }
    }
}
