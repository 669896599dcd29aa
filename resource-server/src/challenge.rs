//! The one builder of `WWW-Authenticate` challenges: `Bearer` (RFC 6750 §3, RFC 9728 §5.1) and
//! `DPoP` (RFC 9449 §7.1).
//!
//! Parameters are always written in the same order: `error`, `error_description`, `algs` (DPoP
//! only), `resource_metadata`, `scope`; each at most once, comma-and-space separated, on one
//! line.
//! Quoting and escaping happen only in [`Challenge::to_header_value`] (spec §1.3.2).

use mcp_auth_core::ScopeSet;

/// The `error` codes a bearer challenge may carry (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BearerError {
    /// `invalid_request`: malformed request (400).
    InvalidRequest,
    /// `invalid_token`: expired, revoked, malformed or otherwise invalid token (401).
    InvalidToken,
    /// `insufficient_scope`: the token lacks privileges (403).
    InsufficientScope,
    /// `invalid_dpop_proof` (RFC 9449 §7.1, `DPoP` challenges only): the proof is missing or
    /// fails a check (401).
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §9, `DPoP` challenges only): retry with the nonce of the
    /// `DPoP-Nonce` header (401).
    UseDpopNonce,
}

impl BearerError {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

/// A `Bearer` (or, with [`Challenge::dpop`], `DPoP`) challenge under construction.
///
/// ```
/// use mcp_auth_resource_server::challenge::{BearerError, Challenge};
/// let c = Challenge::new("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
///     .error(BearerError::InvalidToken)
///     .description("token \"expired\"");
/// assert_eq!(
///     c.to_header_value(),
///     r#"Bearer error="invalid_token", error_description="token \"expired\"", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    error: Option<BearerError>,
    description: Option<String>,
    dpop_algs: Option<String>,
    resource_metadata: Option<String>,
    scope: Option<ScopeSet>,
}

impl Challenge {
    /// A challenge pointing at the protected resource metadata URL `resource_metadata`.
    pub fn new(resource_metadata: impl Into<String>) -> Self {
        Self {
            error: None,
            description: None,
            dpop_algs: None,
            resource_metadata: Some(resource_metadata.into()),
            scope: None,
        }
    }

    /// A bare `DPoP algs="…"` challenge (RFC 9449 §7.1), `algs` space-separated.
    pub fn dpop_algs(algs: &str) -> Self {
        Self {
            error: None,
            description: None,
            dpop_algs: Some(algs.to_owned()),
            resource_metadata: None,
            scope: None,
        }
    }

    /// The same challenge under the `DPoP` scheme, with `algs` (space-separated JWA names).
    pub fn dpop(mut self, algs: &str) -> Self {
        self.dpop_algs = Some(algs.to_owned());
        self
    }

    /// The same challenge without `resource_metadata` (when another challenge of the same
    /// header carries it).
    pub fn without_resource_metadata(mut self) -> Self {
        self.resource_metadata = None;
        self
    }

    /// Set `error`.
    pub fn error(mut self, error: BearerError) -> Self {
        self.error = Some(error);
        self
    }

    /// Set `error_description` (human-readable; characters outside RFC 6750 §3 `%x20-7E` are
    /// dropped).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Set `scope` (sorted, space-delimited). An empty set omits the parameter.
    pub fn scope(mut self, scope: ScopeSet) -> Self {
        self.scope = (!scope.is_empty()).then_some(scope);
        self
    }

    /// The header value: `Bearer name="value", …` (or `DPoP name="value", …`).
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str(if self.dpop_algs.is_some() {
            "DPoP "
        } else {
            "Bearer "
        });
        let mut first = true;
        let mut param = |name: &str, value: &str| {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    ' '..='~' => out.push(c),
                    _ => {}
                }
            }
            out.push('"');
        };
        if let Some(e) = self.error {
            param("error", e.as_str());
        }
        if let Some(d) = &self.description {
            param("error_description", d);
        }
        if let Some(algs) = &self.dpop_algs {
            param("algs", algs);
        }
        if let Some(rm) = &self.resource_metadata {
            param("resource_metadata", rm);
        }
        if let Some(s) = &self.scope {
            param("scope", &s.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslash_and_quote_are_escaped_and_controls_dropped() {
        let c = Challenge::new("https://r.example/.well-known/oauth-protected-resource")
            .error(BearerError::InvalidRequest)
            .description("a\\b\"c\r\nd\u{e9}");
        assert_eq!(
            c.to_header_value(),
            r#"Bearer error="invalid_request", error_description="a\\b\"cd", resource_metadata="https://r.example/.well-known/oauth-protected-resource""#
        );
    }

    /// RFC 9449 §7.1: the DPoP challenge carries `algs` after the error.
    #[test]
    fn dpop_challenge_names_the_algorithms() {
        let c = Challenge::new("https://r.example/m")
            .error(BearerError::InvalidDpopProof)
            .description("bad proof")
            .dpop("ES256 PS256");
        assert_eq!(
            c.to_header_value(),
            r#"DPoP error="invalid_dpop_proof", error_description="bad proof", algs="ES256 PS256", resource_metadata="https://r.example/m""#
        );
        assert_eq!(
            Challenge::dpop_algs("ES256").to_header_value(),
            r#"DPoP algs="ES256""#
        );
    }

    #[test]
    fn empty_scope_is_omitted() {
        let c = Challenge::new("https://r.example/m").scope(ScopeSet::new());
        assert_eq!(
            c.to_header_value(),
            r#"Bearer resource_metadata="https://r.example/m""#
        );
    }
}
