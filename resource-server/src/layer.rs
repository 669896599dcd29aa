//! The bearer token [`tower::Layer`], shaped like tower-http's async authorization layer:
//! configuration behind an `Arc`, failures answered as responses, the principal put into request
//! extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use mcp_auth_core::{Clock, ScopeSet, SystemClock};
use tower::{Layer, Service};

use crate::config::{ResourceServerConfig, UNAUTHENTICATED_BODY_LIMIT};
use crate::dpop::{DpopMode, Scheme};
use crate::error::AuthError;
use crate::policy::McpOperation;
use crate::session::{Owner, Reservation, SessionBinding, SessionBook};
use crate::validator::TokenValidator;
use mcp_auth_core::jose::dpop::NONCE_HEADER;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Shared {
    config: ResourceServerConfig,
    validator: Arc<dyn TokenValidator>,
    clock: Arc<dyn Clock>,
    binding: Option<SessionBinding>,
    sessions: Option<Arc<SessionBook>>,
    decisions: Option<Arc<dyn crate::decision::DecisionHook>>,
}

/// Requires a valid bearer token (RFC 6750 §2.1, header only) with enough scope on every request.
///
/// Per request, in order:
/// 1. `access_token` in the query → 400 `invalid_request`; several `Authorization` headers or a
///    `Bearer` value that is not one token68 → 400 `invalid_request`.
/// 2. No token (or a non-Bearer scheme) → 401 with `resource_metadata` and `scope`; a token the
///    validator refuses → 401 `invalid_token`; validation unavailable → 503. **The body of a
///    request without a valid token is read only when its size is known to be at most
///    [`UNAUTHENTICATED_BODY_LIMIT`] bytes** (8 KiB), to name the operation's scopes in the
///    challenge and to answer a form body carrying `access_token` with 400 `invalid_request`
///    (RS-13); a larger or unsized body is never read, and the 401 names the baseline scopes
///    (issue #8 item 6).
/// 3. Only a `POST` carries a JSON-RPC message: a `GET` (the server-to-client event stream),
///    `DELETE` (end of session) or any other method is authorized on the token and the route's
///    scopes alone, whatever its `Content-Type` says (clients such as Python's `mcp` send
///    `application/json` on every request); a body it carries is ignored: never read, never
///    passed on (the inner service gets an empty body). The body of an authenticated `POST` is
///    buffered (at most
///    [`ResourceServerConfig::body_limit`] bytes, else 413, at once when `Content-Length`
///    declares more; 408 with `Connection: close` when the body misses the listener's
///    [`crate::listen::ListenerLimits::body_read_timeout`]) and passed on intact. A form body
///    with `access_token` → 400. A body that is declared `application/json`, or that starts
///    with `{` or `[` whatever its `Content-Type`, is read as one JSON-RPC message
///    ([`McpOperation::parse_body`]); a body that cannot be read the way an MCP server would
///    read it (not JSON, a batch, a repeated member, a tool, prompt or resource name missing or
///    of the wrong type) → 400 `invalid_request`, never the baseline (**fail closed**, issue #8
///    item 1). A repeated `Content-Type` → 400.
/// 4. The scopes are those of [`crate::ScopeRequirements::requirement`]; a method the policy refuses
///    ([`crate::policy::OtherMethods`]) → 400. Too little scope → 403 `insufficient_scope` with
///    the §4.3 scope set.
/// 5. **Session binding** (on by default, [`SessionBinding`]): a request carrying an
///    `Mcp-Session-Id` the layer did not see created for this principal (`iss`, `sub`,
///    `client_id`), or whose record expired, → 404, the answer for a terminated session (spec
///    RS-19, MCP security best practices "Session Hijacking"); an `initialize` past the
///    per-principal cap → 429 `too_many_sessions`, past the total cap → 503. The session id of
///    an `initialize` response is recorded for its principal.
/// 6. Otherwise the [`crate::Principal`] goes into the request extensions, `Authorization` is
///    removed (unless configured otherwise), and the inner service runs. With feature
///    `elicitation`, the token also goes into the extensions as a redacted
///    `elicitation::SubjectToken` (for `ConnectionVault`'s token exchange only), with the
///    `elicitation::RequestFacts` of the body.
/// 7. With feature `elicitation`, the `200` `application/json` or `text/event-stream` response
///    of a 2026-07-28 `tools/call` (`MCP-Protocol-Version` header or `_meta` protocol version)
///    loses `params.elicitationId` where it is `""` in the URL-mode `elicitation/create`
///    entries of an `input_required` result (delta 2026-07-28 §9, ELIC-R2-02; rmcp 3.9 always
///    writes the field). Its `Content-Length` is dropped; JSON bodies and SSE events over
///    1 MiB, and everything else, pass byte for byte.
///
/// Every method is authenticated (GET streams and DELETE included); a session never replaces
/// the token. So is the 2026-07-28 `server/discover`: it needs a valid token with the baseline
/// scopes like any other request (delta 2026-07-28 RS-R2-12, the default), unless
/// [`crate::config::ResourceServerConfigBuilder::discover_public`] lets it through without a
/// token. The scope of a 2026-07-28 request is decided from its body (step 3), never from
/// `Mcp-Method` or `Mcp-Name`; those headers are passed on unchecked, for the MCP server to
/// compare with the body (rmcp answers a mismatch `400` with JSON-RPC `-32020`, RS-R2-11), so a
/// token without the body tool's scope gets `403` whatever they say.
#[derive(Clone)]
pub struct BearerAuthLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuthLayer")
            .field("resource", self.shared.config.resource())
            .field("session_binding", &self.shared.binding)
            .finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// A layer for `config` validating tokens with `validator`, with session binding on
    /// ([`SessionBinding::default`]) and the system clock.
    pub fn new(config: ResourceServerConfig, validator: impl TokenValidator) -> Self {
        Self::with_shared_validator(config, Arc::new(validator))
    }

    /// As [`Self::new`], with a validator shared elsewhere.
    pub fn with_shared_validator(
        config: ResourceServerConfig,
        validator: Arc<dyn TokenValidator>,
    ) -> Self {
        Self::assemble(
            config,
            validator,
            Arc::new(SystemClock),
            Some(SessionBinding::default()),
        )
    }

    fn assemble(
        config: ResourceServerConfig,
        validator: Arc<dyn TokenValidator>,
        clock: Arc<dyn Clock>,
        binding: Option<SessionBinding>,
    ) -> Self {
        let sessions = binding.map(|b| Arc::new(SessionBook::new(b, clock.clone())));
        Self {
            shared: Arc::new(Shared {
                config,
                validator,
                clock,
                binding,
                sessions,
                decisions: None,
            }),
        }
    }

    /// Tell `hook` every decision on a request with a valid token (allowed, or refused for too
    /// little scope), e.g. [`crate::TracingDecisions`] for the audit log. Call last: the other
    /// builder methods start from a layer without a hook.
    pub fn decision_hook(self, hook: Arc<dyn crate::decision::DecisionHook>) -> Self {
        let s = &self.shared;
        let shared = Shared {
            config: s.config.clone(),
            validator: s.validator.clone(),
            clock: s.clock.clone(),
            binding: s.binding,
            sessions: s.sessions.clone(),
            decisions: Some(hook),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Bind MCP sessions to their principal with these limits (on by default with
    /// [`SessionBinding::default`]). Call before the layer is used: the records start empty.
    pub fn session_binding(self, binding: SessionBinding) -> Self {
        let s = &self.shared;
        Self::assemble(
            s.config.clone(),
            s.validator.clone(),
            s.clock.clone(),
            Some(binding),
        )
    }

    /// Pass `Mcp-Session-Id` on unchecked: any holder of a valid token can then use another
    /// principal's session. Only for an MCP server that binds sessions itself; logs a warning.
    pub fn insecure_disable_session_binding(self) -> Self {
        tracing::warn!("MCP session binding is off: a session id works for any valid token");
        let s = &self.shared;
        Self::assemble(s.config.clone(), s.validator.clone(), s.clock.clone(), None)
    }

    /// The clock for session expiry (default the system clock).
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        let s = &self.shared;
        Self::assemble(s.config.clone(), s.validator.clone(), clock, s.binding)
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceServerConfig {
        &self.shared.config
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`BearerAuthLayer`].
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            match shared.authorize(req).await {
                Ok((req, session, strip)) => {
                    let resp = inner.call(req).await?;
                    session.finish(resp.status(), resp.headers());
                    let resp = resp.map(Body::new);
                    #[cfg(feature = "elicitation")]
                    if strip {
                        // ELIC-R2-02: no empty `elicitationId` on the 2026-07-28 wire.
                        return Ok(
                            crate::elicitation::wire::strip_elicitation_ids(resp).map(Body::new)
                        );
                    }
                    #[cfg(not(feature = "elicitation"))]
                    let _ = strip;
                    Ok(resp)
                }
                Err(rejection) => Ok(rejection),
            }
        })
    }
}

/// What the layer does with the response, for session binding.
enum SessionStep {
    /// Binding off.
    Off,
    /// The request carried a session id of its principal.
    Known {
        book: Arc<SessionBook>,
        id: String,
        delete: bool,
    },
    /// The request carried no session id: a session it creates is recorded for `owner`.
    Fresh {
        book: Arc<SessionBook>,
        owner: Owner,
        reservation: Option<Reservation>,
    },
}

impl SessionStep {
    fn finish(self, status: StatusCode, headers: &HeaderMap) {
        match self {
            Self::Off => {}
            Self::Known { book, id, delete } => {
                if status == StatusCode::NOT_FOUND || (delete && status.is_success()) {
                    book.forget(&id);
                }
            }
            Self::Fresh {
                book,
                owner,
                reservation,
            } => {
                let created = crate::session::created_session_id(headers);
                match reservation {
                    Some(r) => r.complete(created.as_deref()),
                    None => {
                        if let Some(id) = created {
                            book.record(&id, &owner);
                        }
                    }
                }
            }
        }
    }
}

impl Shared {
    async fn authorize<B>(
        &self,
        req: Request<B>,
    ) -> Result<(Request<Body>, SessionStep, bool), Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let policy = self.config.policy();
        let (mut parts, body) = req.into_parts();
        let baseline = policy.baseline();
        if parts.uri.query().is_some_and(query_has_token) {
            return Err(self.reject(AuthError::TokenInQuery, baseline));
        }
        let dpop_on = self.config.dpop().mode() != DpopMode::Off;
        let presented =
            extract_token(&parts.headers, dpop_on).map_err(|e| self.reject(e, baseline))?;
        let Some((scheme, token)) = presented else {
            if self.config.discover_public() && carries_message(&parts.method) {
                return self.public_discover(parts, body).await;
            }
            return Err(self
                .unauthenticated(AuthError::MissingToken, &parts, body)
                .await);
        };
        let (principal, digest) = match self.authenticate(&parts, scheme, token).await {
            Ok(p) => p,
            Err(AuthError::Unavailable) => {
                return Err(self.reject(AuthError::Unavailable, baseline));
            }
            Err(e) => return Err(self.unauthenticated_as(e, &parts, body, scheme).await),
        };

        // Only a POST carries a JSON-RPC message (MCP streamable HTTP transport): a GET (the
        // server-to-client stream) or DELETE (end of session) is authorized on the token and
        // its route alone, whatever its `Content-Type` says, and any body it has is never read
        // and never passed on.
        let (bytes, operation) = if carries_message(&parts.method) {
            let bytes = self
                .read_body(&parts.headers, body, self.config.body_limit())
                .await
                .map_err(|e| self.reject(e, baseline))?;
            let operation =
                operation_of(&parts.headers, &bytes).map_err(|e| self.reject(e, baseline))?;
            (bytes, operation)
        } else {
            (Bytes::new(), None)
        };
        crate::dpop::check_content_digest(digest.as_deref(), &bytes)
            .map_err(|e| self.reject(e, baseline))?;
        if let Some(refusal) = self.decide_scopes(&parts, &principal, operation.as_ref(), scheme) {
            return Err(refusal);
        }
        let session = self
            .session_step(&parts, &principal, operation.as_ref())
            .map_err(|e| self.reject(e, baseline))?;
        #[cfg(feature = "elicitation")]
        {
            // Feature `elicitation`: the token, for the vault's token exchange only, and the
            // request facts a sealed `requestState` is bound to.
            parts
                .extensions
                .insert(crate::elicitation::SubjectToken::new(token));
            let session = crate::session::session_id(&parts.headers).ok().flatten();
            if let Some(facts) = crate::elicitation::RequestFacts::from_body(&bytes, session) {
                parts.extensions.insert(facts);
            }
        }
        // Feature `elicitation`: the response of a 2026-07-28 `tools/call` loses rmcp's empty
        // `elicitationId`s (ELIC-R2-02, `elicitation::wire`).
        #[cfg(feature = "elicitation")]
        let strip = crate::elicitation::wire::is_r2_tool_call(&parts.headers, &bytes);
        #[cfg(not(feature = "elicitation"))]
        let strip = false;
        if self.config.strip_authorization() {
            parts.headers.remove(AUTHORIZATION);
        }
        parts.extensions.insert(principal);
        Ok((
            Request::from_parts(parts, Body::from(bytes)),
            session,
            strip,
        ))
    }

    /// The scope decision for the request (SEP-835): the policy's requirement for the method,
    /// path and JSON-RPC `operation`, checked against the principal's scopes and reported to
    /// the decision hook. The refusal, when there is one: `403 insufficient_scope` with the
    /// step-up challenge when scopes are missing, or the policy's error.
    fn decide_scopes(
        &self,
        parts: &Parts,
        principal: &crate::Principal,
        operation: Option<&McpOperation>,
        scheme: Scheme,
    ) -> Option<Response<Body>> {
        let policy = self.config.policy();
        let baseline = policy.baseline();
        let operations = operation.map(std::slice::from_ref).unwrap_or_default();
        let required = match policy.requirement(&parts.method, parts.uri.path(), operations) {
            Ok(required) => required,
            Err(e) => return Some(self.reject(e.into(), baseline)),
        };
        let checked = policy.check(&principal.scopes, &required);
        if let Some(hook) = &self.decisions {
            hook.decided(&crate::decision::AccessDecision {
                principal,
                method: &parts.method,
                path: parts.uri.path(),
                operation,
                allowed: checked.is_ok(),
                required: &required,
                held: &principal.scopes,
            });
        }
        if let Err((missing, challenge)) = checked {
            tracing::info!(
                required = %required,
                granted = %principal.scopes,
                missing = %missing,
                sub = %principal.subject,
                client_id = %principal.client_id,
                "scope elevation required"
            );
            let e = AuthError::InsufficientScope { missing };
            return Some(self.reject_as(e, &challenge, scheme));
        }
        None
    }

    /// The principal of `token`, presented with `scheme`, after its DPoP binding is checked
    /// against the scheme and the request's proof (RFC 9449 §7; [`crate::DpopConfig`]), and
    /// the proof's `content_digest` when it has one (checked once the body is read).
    async fn authenticate(
        &self,
        parts: &Parts,
        scheme: Scheme,
        token: &str,
    ) -> Result<(crate::Principal, Option<String>), AuthError> {
        let principal = self.validator.validate(token).await?;
        let uri = format!("{}{}", self.config.origin(), parts.uri.path());
        let now = self.clock.now();
        let digest = (self.config.dpop())
            .check(parts, &uri, (scheme, token), &principal, now)
            .await?;
        Ok((principal, digest))
    }

    /// With [`crate::config::ResourceServerConfigBuilder::discover_public`]: a `POST` without a
    /// token whose body is one `server/discover` request is passed on with no principal; anything
    /// else without a token gets the usual 401. The body is read within
    /// [`UNAUTHENTICATED_BODY_LIMIT`] bytes (an unsized or larger body is the 401).
    async fn public_discover<B>(
        &self,
        parts: Parts,
        body: B,
    ) -> Result<(Request<Body>, SessionStep, bool), Response<Body>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let limit = UNAUTHENTICATED_BODY_LIMIT.min(self.config.body_limit());
        let small = body.size_hint().upper().is_some_and(|n| n <= limit as u64);
        let bytes = if small {
            self.read_body(&parts.headers, body, limit).await.ok()
        } else {
            None
        };
        let Some(bytes) = bytes else {
            let empty = Body::empty();
            return Err(self
                .unauthenticated(AuthError::MissingToken, &parts, empty)
                .await);
        };
        if let Ok(Some(McpOperation::Method(method))) = operation_of(&parts.headers, &bytes)
            && method == "server/discover"
        {
            return Ok((
                Request::from_parts(parts, Body::from(bytes)),
                SessionStep::Off,
                false,
            ));
        }
        Err(self
            .unauthenticated(AuthError::MissingToken, &parts, Body::from(bytes))
            .await)
    }

    /// The 401 (or 400 for a small form body carrying `access_token`) of a request without a
    /// valid token. The body is read only when its size is known to be small.
    async fn unauthenticated<B>(&self, error: AuthError, parts: &Parts, body: B) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.unauthenticated_as(error, parts, body, Scheme::Bearer)
            .await
    }

    /// [`Self::unauthenticated`] of a token presented with `scheme`.
    async fn unauthenticated_as<B>(
        &self,
        error: AuthError,
        parts: &Parts,
        body: B,
        scheme: Scheme,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let policy = self.config.policy();
        let route_only = policy.required(&parts.method, parts.uri.path(), &[]);
        let limit = UNAUTHENTICATED_BODY_LIMIT.min(self.config.body_limit());
        let small = body.size_hint().upper().is_some_and(|n| n <= limit as u64);
        let mut scope = route_only.clone();
        if small
            && carries_message(&parts.method)
            && let Ok(bytes) = self.read_body(&parts.headers, body, limit).await
        {
            match operation_of(&parts.headers, &bytes) {
                Err(AuthError::TokenInBody) => {
                    return self.reject_as(AuthError::TokenInBody, policy.baseline(), scheme);
                }
                Ok(op) => {
                    scope = policy
                        .requirement(&parts.method, parts.uri.path(), op.as_slice())
                        .unwrap_or(route_only);
                }
                Err(_) => {}
            }
        }
        self.reject_as(error, &policy.minimal(&scope), scheme)
    }

    fn session_step(
        &self,
        parts: &Parts,
        principal: &crate::Principal,
        operation: Option<&McpOperation>,
    ) -> Result<SessionStep, AuthError> {
        let Some(book) = &self.sessions else {
            return Ok(SessionStep::Off);
        };
        let owner = Owner::of(principal);
        if let Some(id) = crate::session::session_id(&parts.headers)? {
            book.check(&id, &owner)?;
            return Ok(SessionStep::Known {
                book: book.clone(),
                id,
                delete: parts.method == Method::DELETE,
            });
        }
        let reservation = match operation {
            Some(McpOperation::Method(m)) if m == "initialize" => {
                Some(book.reserve(owner.clone())?)
            }
            _ => None,
        };
        Ok(SessionStep::Fresh {
            book: book.clone(),
            owner,
            reservation,
        })
    }

    async fn read_body<B>(
        &self,
        headers: &HeaderMap,
        body: B,
        limit: usize,
    ) -> Result<Bytes, AuthError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|l| l > limit as u64) {
            return Err(AuthError::BodyTooLarge(limit));
        }
        match Limited::new(body, limit).collect().await {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                Err(AuthError::BodyTooLarge(limit))
            }
            Err(e) if crate::listen::is_body_read_timeout(&*e) => Err(AuthError::BodyReadTimeout),
            Err(_) => Err(AuthError::BodyUnreadable),
        }
    }

    /// [`Self::reject_as`] of a request without a token, or with a `Bearer` one.
    fn reject(&self, error: AuthError, scope: &ScopeSet) -> Response<Body> {
        self.reject_as(error, scope, Scheme::Bearer)
    }

    /// The one place a refusal becomes an HTTP response: the error body, the challenges of the
    /// accepted schemes (the error in the one `scheme` names, [`crate::DpopConfig`]), and a
    /// fresh `DPoP-Nonce` on a 401 when nonces are demanded (RFC 9449 §9).
    fn reject_as(&self, error: AuthError, scope: &ScopeSet, scheme: Scheme) -> Response<Body> {
        let body = serde_json::json!({
            "error": error.code(),
            "error_description": error.to_string(),
        });
        let mut resp = Response::new(Body::from(body.to_string()));
        *resp.status_mut() = error.status();
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(error, AuthError::BodyReadTimeout) {
            // The rest of the body may still be on its way: end the connection.
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let dpop = self.config.dpop();
        for challenge in dpop.challenges(&error, self.config.metadata_url(), scope, scheme) {
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                headers.append(WWW_AUTHENTICATE, v);
            }
        }
        if error.status() == StatusCode::UNAUTHORIZED
            && let Some(nonce) = dpop.fresh_nonce(self.clock.now())
            && let Ok(v) = HeaderValue::from_str(&nonce)
        {
            headers.insert(NONCE_HEADER, v);
        }
        resp
    }
}

/// Whether a request of `method` carries a JSON-RPC message: only `POST` does (MCP streamable
/// HTTP transport). The body of any other method is neither read nor passed on.
fn carries_message(method: &Method) -> bool {
    method == Method::POST
}

/// The MCP operation of a buffered body (see [`BearerAuthLayer`] step 3).
///
/// # Errors
/// [`AuthError::RepeatedHeader`] for several `Content-Type`s, [`AuthError::TokenInBody`] for a
/// form body with `access_token`, [`AuthError::Operation`] for a JSON body that cannot be read.
fn operation_of(headers: &HeaderMap, body: &[u8]) -> Result<Option<McpOperation>, AuthError> {
    let mut types = headers.get_all(CONTENT_TYPE).iter();
    let content_type = types.next();
    if types.next().is_some() {
        return Err(AuthError::RepeatedHeader("Content-Type"));
    }
    let essence = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") && form_has_token(body) {
        return Err(AuthError::TokenInBody);
    }
    if essence.eq_ignore_ascii_case("application/json") || looks_like_json(body) {
        return Ok(McpOperation::parse_body(body)?);
    }
    Ok(None)
}

/// True when the first byte after whitespace (and a UTF-8 byte order mark) opens a JSON object
/// or array: such a body is read as JSON-RPC whatever its `Content-Type`, since an MCP server
/// might.
fn looks_like_json(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

fn query_has_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
}

fn form_has_token(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body).any(|(k, _)| k == "access_token")
}

/// The token of the `Authorization` header and its scheme: `Bearer` (RFC 6750 §2.1) or, when
/// `dpop` is on, `DPoP` (RFC 9449 §7.1). `Ok(None)` when absent or another scheme;
/// `Ok(Some((_, "")))` for a bare scheme name.
fn extract_token(headers: &HeaderMap, dpop: bool) -> Result<Option<(Scheme, &str)>, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::SeveralCredentials);
    }
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    let (name, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if name.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if dpop && name.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some((scheme, "")));
    }
    if !is_token68(rest) {
        return Err(AuthError::MalformedHeader);
    }
    Ok(Some((scheme, rest)))
}

/// RFC 7235 §2.1 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// A CORS layer for browser-based MCP clients: any origin, the MCP methods and request headers
/// (`DPoP` included), and `WWW-Authenticate` (plus `Mcp-Session-Id` and `DPoP-Nonce`) exposed
/// so a browser client can read the challenge and a server nonce. Put it *outside* the bearer layer so preflights are answered before
/// authentication.
pub fn cors_layer() -> tower_http::cors::CorsLayer {
    use http::HeaderName;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            http::header::ACCEPT,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("dpop"),
        ])
        .expose_headers([
            WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("dpop-nonce"),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            extract_token(&headers(&["bEaReR abc.def-_~+/=="]), true),
            Ok(Some((Scheme::Bearer, "abc.def-_~+/==")))
        );
    }

    #[test]
    fn two_spaces_or_two_tokens_are_malformed() {
        assert_eq!(
            extract_token(&headers(&["Bearer  abc"]), true),
            Err(AuthError::MalformedHeader)
        );
        assert_eq!(
            extract_token(&headers(&["Bearer a, Bearer b"]), true),
            Err(AuthError::MalformedHeader)
        );
    }

    #[test]
    fn other_scheme_counts_as_no_token() {
        assert_eq!(extract_token(&headers(&["Basic dTpw"]), true), Ok(None));
    }

    /// RFC 9449 §7.1: the `DPoP` scheme is read only with DPoP on.
    #[test]
    fn dpop_scheme_is_read_only_when_dpop_is_on() {
        assert_eq!(
            extract_token(&headers(&["DPoP abc"]), true),
            Ok(Some((Scheme::Dpop, "abc")))
        );
        assert_eq!(extract_token(&headers(&["DPoP abc"]), false), Ok(None));
    }
}
