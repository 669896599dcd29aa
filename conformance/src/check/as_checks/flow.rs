//! The steps the flow checks share: authorization URLs and parameters, running an
//! authorization request, getting a code, token requests, and recording why a check could not
//! run.

use super::{ClientAuth, FlowClient, Run};
use crate::check::browser::{Authorization, Pkce, authorize, random_token};
use crate::check::http::{Exchange, basic};
use crate::check::report::CheckId;

/// The parameters of a redirect URL: `name → every value`.
pub(super) fn query_of(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn count(q: &[(String, String)], name: &str) -> usize {
    q.iter().filter(|(k, _)| k == name).count()
}

impl Run<'_> {
    /// The authorization URL for `client` with `params` (in order).
    pub(super) fn authz_url(&self, params: &[(&str, &str)]) -> String {
        let endpoint = self.meta.str("authorization_endpoint").unwrap_or_default();
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        format!("{endpoint}{sep}{}", crate::check::http::form(params))
    }

    /// The usual authorization parameters for `client` with `pkce` and `state`.
    pub(super) fn base_params<'p>(
        &'p self,
        client: &'p FlowClient,
        challenge: &'p str,
        state: &'p str,
    ) -> Vec<(&'p str, &'p str)> {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", self.opts.redirect_uri.as_str()),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
        ];
        if let Some(s) = &self.opts.scope {
            p.push(("scope", s));
        }
        if let Some(r) = &self.opts.resource {
            p.push(("resource", r));
        }
        p
    }

    pub(super) async fn run_authz(&self, url: &str, redirect_uri: &str) -> Authorization {
        authorize(self.http, url, redirect_uri, &self.opts.login).await
    }

    /// A code for `client` with a fresh PKCE pair: `(code, pkce)`, or why not.
    pub(super) async fn get_code(
        &self,
        client: &FlowClient,
    ) -> Result<(String, Pkce), (Option<Exchange>, String)> {
        let pkce = Pkce::generate();
        let state = random_token(12);
        let url = self.authz_url(&self.base_params(client, &pkce.challenge, &state));
        match self.run_authz(&url, &self.opts.redirect_uri).await {
            Authorization::Redirect { url, exchange } => {
                let q = query_of(&url);
                match param(&q, "code") {
                    Some(c) => Ok((c.to_owned(), pkce)),
                    None => Err((
                        Some(exchange),
                        format!("no code: error {:?}", param(&q, "error").unwrap_or("")),
                    )),
                }
            }
            Authorization::Stopped { exchange } => Err((
                Some(exchange),
                "the flow stopped before a redirect to the client".into(),
            )),
            Authorization::NeedsUser { reason } => Err((None, reason)),
        }
    }

    /// `POST token_endpoint` with `params` and `client`'s authentication.
    pub(super) async fn token_request(
        &self,
        client: &FlowClient,
        params: &[(&str, &str)],
    ) -> Exchange {
        let token = self.token_endpoint().unwrap_or_default();
        let mut p: Vec<(&str, &str)> = params.to_vec();
        let mut authz = None;
        match &client.auth {
            ClientAuth::None => p.push(("client_id", &client.id)),
            ClientAuth::Basic(s) => authz = Some(basic(&client.id, s.expose())),
            ClientAuth::Post(s) => {
                p.push(("client_id", &client.id));
                p.push(("client_secret", s.expose()));
            }
        }
        self.http.post_form(&token, &p, authz.as_deref()).await
    }

    pub(super) async fn redeem(
        &self,
        client: &FlowClient,
        code: &str,
        verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Exchange {
        let mut p = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.opts.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            p.push(("code_verifier", v));
        }
        if let Some(r) = resource.or(self.opts.resource.as_deref()) {
            p.push(("resource", r));
        }
        self.token_request(client, &p).await
    }

    pub(super) async fn refresh(
        &self,
        client: &FlowClient,
        rt: &str,
        scope: Option<&str>,
    ) -> Exchange {
        let mut p = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            p.push(("scope", s));
        }
        self.token_request(client, &p).await
    }

    /// Whether `client` is the one the operator named with `--client-id` (not one the checker
    /// registered or hosted itself): only its refusals say the checker was set up wrongly.
    pub(super) fn is_operators(&self, client: &FlowClient) -> bool {
        self.opts.client_id.as_deref() == Some(client.id.as_str())
    }

    /// The checker cannot run the flow checks as asked (a client that may not use the flow):
    /// record a setup error (exit code 2) and skip `checks` and `rest` with `why`; returns
    /// false for [`Self::happy_path`].
    pub(super) fn cannot_run(&mut self, why: String, checks: &[CheckId], rest: &[CheckId]) -> bool {
        for c in checks.iter().chain(rest) {
            self.report.skip(*c, why.clone());
        }
        self.report.setup_error(why);
        false
    }

    /// Skip every check in `checks` with `reason` (or fail them when the flow broke).
    pub(super) fn cannot(&mut self, checks: &[CheckId], why: (Option<Exchange>, String)) {
        let (ex, reason) = why;
        for c in checks {
            match &ex {
                None => self.report.skip(*c, reason.clone()),
                Some(ex) => self.report.fail(
                    *c,
                    format!("could not get a code: {reason}"),
                    Some(ex.summary()),
                ),
            }
        }
    }
}
