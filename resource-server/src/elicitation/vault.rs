//! [`ConnectionVault`]: one call in a tool handler gets the user's third-party credential from
//! this MCP server's authorization server, or the right protocol answer for the client.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::{Clock, Secret, SystemClock};
use rmcp::RoleServer;
use rmcp::model::{
    ClientCapabilities, ElicitRequest, ElicitRequestParams, InputRequest, InputRequests,
    InputRequiredResult, ProtocolVersion,
};
use rmcp::service::RequestContext;

use super::client::{AsClient, AsElicitation, Exchange};
use super::credential::Credential;
use super::error::CredentialError;
use super::state::{REQUEST_STATE_TTL_SECS, RequestStateKey, StateClaims};
use super::subject::{RequestFacts, SubjectToken};
use super::watch::{DEFAULT_MAX_WATCHERS, Watchers};
use crate::Principal;

/// The client of the authorization server's connection vault, for MCP tool handlers.
///
/// Configured with the authorization server's issuer (it calls `{issuer}/connect/token` and
/// `{issuer}/connect/status`), this MCP server's confidential client there (`client_id` and
/// secret, sent with `client_secret_basic`; the client must be listed in the resource's
/// `server_clients`), and a 32-byte [`RequestStateKey`]. Needs [`crate::BearerAuthLayer`] built
/// with feature `elicitation` in front of the rmcp service: the layer leaves the validated
/// token ([`SubjectToken`]) and the request facts in the request extensions.
///
/// Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct ConnectionVault {
    inner: Arc<Inner>,
}

struct Inner {
    client: AsClient,
    key: RequestStateKey,
    clock: Arc<dyn Clock>,
    watchers: Arc<Watchers>,
}

impl std::fmt::Debug for ConnectionVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionVault").finish_non_exhaustive()
    }
}

impl ConnectionVault {
    /// A vault client for the authorization server `issuer` (exactly as in its metadata),
    /// authenticating as `client_id` / `client_secret`, sealing `requestState` with `key`.
    pub fn new(
        issuer: &str,
        client_id: impl Into<String>,
        client_secret: Secret,
        key: RequestStateKey,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: AsClient::new(issuer, client_id.into(), client_secret),
                key,
                clock: Arc::new(SystemClock),
                watchers: Arc::new(Watchers::new(DEFAULT_MAX_WATCHERS)),
            }),
        }
    }

    /// The clock for `requestState` expiry (default the system clock).
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.rebuild(|i| i.clock = clock)
    }

    /// Most completion watchers at once (default [`DEFAULT_MAX_WATCHERS`]).
    pub fn max_watchers(self, max: usize) -> Self {
        self.rebuild(|i| i.watchers = Arc::new(Watchers::new(max)))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            client: self.inner.client.clone(),
            key: self.inner.key.clone(),
            clock: self.inner.clock.clone(),
            watchers: self.inner.watchers.clone(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The caller's credential for `connection` (a `[[connections]] name` of the authorization
    /// server), by RFC 8693 token exchange of the caller's access token at
    /// `{issuer}/connect/token`.
    ///
    /// When the user has not connected the account yet, the error is the answer for the
    /// client's revision ([`CredentialError::into_response`]):
    /// - 2025-11-25 (negotiated at `initialize`) with `elicitation.url` declared: `-32042`,
    ///   and a watcher that sends `notifications/elicitation/complete` on this session when
    ///   the authorization server reports completion; without URL mode: an `isError` result
    ///   naming the URL.
    /// - 2026-07-28 with `elicitation.url` in *this request's* `_meta` client capabilities:
    ///   an `InputRequiredResult` with a sealed `requestState` (principal, 15-minute expiry,
    ///   request digest, elicitation id); without it: `-32021`. On the retry, the echoed
    ///   state is checked first (refused with `-32602` when it does not open, has expired, or
    ///   is another principal's or request's), then the authorization server is asked again:
    ///   the same pending elicitation gives the same answer, byte for byte (ELIC-R2-10).
    /// - A token without a user (`sub` = `client_id`) never gets an elicitation (ELIC-R2-09).
    ///
    /// # Errors
    /// [`CredentialError`], see above.
    pub async fn credential(
        &self,
        ctx: &RequestContext<RoleServer>,
        connection: &str,
    ) -> Result<Credential, CredentialError> {
        let (principal, subject, facts) = authenticated(ctx)?;
        if principal.subject == principal.client_id {
            return Err(CredentialError::NoUser);
        }
        let modern = ctx
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        let echoed = match (&facts.request_state, modern) {
            (Some(state), true) => Some((
                state.as_str(),
                self.check_state(state, principal, facts, connection)?,
            )),
            _ => None,
        };
        let elicitation = match self.inner.client.exchange(subject, connection).await {
            Exchange::Credential(c) => return Ok(c),
            Exchange::ConnectionRequired(e) => e,
            Exchange::InvalidGrant => return Err(CredentialError::SubjectRefused),
            Exchange::TooManyRequests => return Err(CredentialError::TooManyRequests),
            Exchange::Refused(code) => {
                tracing::warn!(%code, connection, "the authorization server refused the token exchange");
                return Err(CredentialError::Refused);
            }
            Exchange::Unavailable => return Err(CredentialError::Unavailable),
        };
        if modern {
            let declared = ctx.meta.client_capabilities().is_some_and(|c| has_url(&c));
            if !declared {
                return Err(CredentialError::MissingUrlCapability);
            }
            let state = match echoed {
                Some((state, claims)) if claims.eid == elicitation.id => state.to_owned(),
                _ => self
                    .seal(principal, facts, connection, &elicitation)
                    .ok_or(CredentialError::Unavailable)?,
            };
            return Err(CredentialError::InputRequired(Box::new(input_required(
                connection,
                &elicitation,
                state,
            ))));
        }
        let declared = ctx.client_capabilities().is_some_and(|c| has_url(&c));
        if !declared {
            return Err(CredentialError::ConnectElsewhere {
                url: elicitation.url,
                message: elicitation.message,
            });
        }
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(elicitation.expires_in.min(REQUEST_STATE_TTL_SECS as u64));
        self.inner.watchers.spawn(
            self.inner.client.clone(),
            ctx.peer.clone(),
            format!("{} {}", principal.issuer, principal.subject),
            elicitation.id.clone(),
            facts.session_id.clone(),
            deadline,
        );
        Err(CredentialError::UrlElicitationRequired {
            elicitation_id: elicitation.id,
            url: elicitation.url,
            message: elicitation.message,
        })
    }

    /// The claims of an echoed state, checked against this request (ELIC-R2-05, ELIC-R2-06).
    fn check_state(
        &self,
        state: &str,
        principal: &Principal,
        facts: &RequestFacts,
        connection: &str,
    ) -> Result<StateClaims, CredentialError> {
        let claims = self
            .inner
            .key
            .open(state)
            .ok_or(CredentialError::InvalidRequestState)?;
        let ok = claims.exp > self.inner.clock.now()
            && claims.iss == principal.issuer
            && claims.sub == principal.subject
            && claims.cid == principal.client_id
            && claims.aud == audience(principal)
            && claims.dig == URL_SAFE_NO_PAD.encode(facts.digest)
            && claims.con == connection;
        if ok {
            Ok(claims)
        } else {
            Err(CredentialError::InvalidRequestState)
        }
    }

    fn seal(
        &self,
        principal: &Principal,
        facts: &RequestFacts,
        connection: &str,
        elicitation: &AsElicitation,
    ) -> Option<String> {
        let ttl = (elicitation.expires_in as i64).clamp(1, REQUEST_STATE_TTL_SECS);
        self.inner.key.seal(&StateClaims {
            iss: principal.issuer.clone(),
            sub: principal.subject.clone(),
            cid: principal.client_id.clone(),
            aud: audience(principal),
            exp: self.inner.clock.now() + ttl,
            dig: URL_SAFE_NO_PAD.encode(facts.digest),
            con: connection.to_owned(),
            eid: elicitation.id.clone(),
        })
    }
}

/// The principal's access token `aud` (the MCP server's resource, which the bearer layer
/// checked): a state sealed for one MCP server is refused by another sharing its key.
fn audience(principal: &Principal) -> String {
    principal
        .claims
        .get("aud")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn has_url(capabilities: &ClientCapabilities) -> bool {
    capabilities
        .elicitation
        .as_ref()
        .is_some_and(|e| e.url.is_some())
}

/// The MRTR answer: one URL-mode `elicitation/create` under the key `connect_<connection>`.
fn input_required(
    connection: &str,
    elicitation: &AsElicitation,
    state: String,
) -> InputRequiredResult {
    let request = ElicitRequest::new(ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: elicitation.message.clone(),
        url: elicitation.url.clone(),
        // 2026-07-28 has no elicitationId (ELIC-R2-02); rmcp 3.9 writes this field as `""`.
        elicitation_id: String::new(),
    });
    let mut requests = InputRequests::new();
    requests.insert(
        format!("connect_{connection}"),
        InputRequest::Elicitation(request),
    );
    InputRequiredResult::new(Some(requests), Some(state))
}

/// What the bearer layer put in the request's extensions: the principal, its token and the
/// request's facts.
///
/// # Errors
/// [`CredentialError::NotAuthenticated`] when the request did not pass the layer.
fn authenticated(
    ctx: &RequestContext<RoleServer>,
) -> Result<(&Principal, &SubjectToken, &RequestFacts), CredentialError> {
    let parts = ctx
        .extensions
        .get::<http::request::Parts>()
        .ok_or(CredentialError::NotAuthenticated)?;
    let principal = parts
        .extensions
        .get::<Principal>()
        .ok_or(CredentialError::NotAuthenticated)?;
    let subject = parts
        .extensions
        .get::<SubjectToken>()
        .ok_or(CredentialError::NotAuthenticated)?;
    let facts = parts
        .extensions
        .get::<RequestFacts>()
        .ok_or(CredentialError::NotAuthenticated)?;
    Ok((principal, subject, facts))
}
