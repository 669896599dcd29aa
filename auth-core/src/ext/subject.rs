//! Issuer-qualified subjects: whom an access token speaks for, and which issuer established
//! that subject.
//!
//! A token this server mints for one of its own users (sign-in, authorization code, refresh)
//! names the user by `sub` alone: the subject is (`iss`, `sub`). A grant that takes the user
//! from another issuer (an ID-JAG from a trusted IdP) also adds the `sub_id` claim (RFC 9493
//! §4.1) in the `iss_sub` format, naming that issuer and its subject. Whatever is kept per user
//! (the token vault) is keyed by [`AccessTokenClaims::qualified_subject`], so a subject another
//! issuer asserted and one of this server's own users never share an entry, even when their
//! `sub` strings are equal.

use serde_json::{Value, json};

use super::token_issuer::AccessTokenClaims;

/// The JWT claim carrying a structured subject identifier (RFC 9493 §4.1).
pub const SUBJECT_ID_CLAIM: &str = "sub_id";

/// What the `sub` of every token issued to a workload (workload identity federation, SEP-1933)
/// starts with: `wif:<prefix>:<sub>`. A reserved namespace: this server's users are `usr_…`,
/// Cross App Access subjects may not be configured into it, and exchanges that act for a user
/// (on-behalf-of, the connection broker) refuse a subject token in it.
pub const WORKLOAD_SUBJECT_NAMESPACE: &str = "wif:";

/// The RFC 9493 subject identifier format of an issuer and a subject at it.
pub const ISS_SUB_FORMAT: &str = "iss_sub";

/// A subject qualified by the issuer that established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualifiedSubject<'a> {
    /// The issuer that established the subject: this server's issuer for its own users, a
    /// trusted IdP's issuer for a subject taken from its ID-JAG.
    pub iss: &'a str,
    /// The subject at that issuer.
    pub sub: &'a str,
}

impl QualifiedSubject<'_> {
    /// The `sub_id` claim value: `{"format":"iss_sub","iss":…,"sub":…}` (RFC 9493).
    ///
    /// ```
    /// use mcp_auth_core::ext::QualifiedSubject;
    ///
    /// let s = QualifiedSubject { iss: "https://idp.example.com", sub: "alice" };
    /// assert_eq!(
    ///     s.to_claim().to_string(),
    ///     r#"{"format":"iss_sub","iss":"https://idp.example.com","sub":"alice"}"#
    /// );
    /// ```
    pub fn to_claim(&self) -> Value {
        json!({"format": ISS_SUB_FORMAT, "iss": self.iss, "sub": self.sub})
    }
}

/// A `sub_id` claim that is not an `iss_sub` subject identifier with a non-empty `iss` and
/// `sub`. A token carrying one speaks for nobody that can be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token's sub_id claim is not an iss_sub subject identifier (RFC 9493)")]
pub struct MalformedSubjectId;

impl AccessTokenClaims {
    /// Whom the token speaks for: the `sub_id` claim (format `iss_sub`) when the grant took the
    /// subject from another issuer, else (`iss`, `sub`), a user of this server.
    ///
    /// # Errors
    /// [`MalformedSubjectId`] when `sub_id` is present but not an object with `format`
    /// `iss_sub` and non-empty string `iss` and `sub` (fail closed: never fall back to `sub`).
    pub fn qualified_subject(&self) -> Result<QualifiedSubject<'_>, MalformedSubjectId> {
        let Some(id) = self.extra.get(SUBJECT_ID_CLAIM) else {
            return Ok(QualifiedSubject {
                iss: &self.iss,
                sub: &self.sub,
            });
        };
        let member = |name: &str| {
            id.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or(MalformedSubjectId)
        };
        if member("format")? != ISS_SUB_FORMAT {
            return Err(MalformedSubjectId);
        }
        Ok(QualifiedSubject {
            iss: member("iss")?,
            sub: member("sub")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::ExtraClaims;

    fn claims(sub_id: Option<Value>) -> AccessTokenClaims {
        let mut extra = ExtraClaims::new();
        if let Some(v) = sub_id {
            extra.insert(SUBJECT_ID_CLAIM, v).unwrap();
        }
        AccessTokenClaims {
            iss: "https://as.example.com".into(),
            sub: "usr_1".into(),
            aud: "https://mcp.example.com/mcp".into(),
            client_id: "c".into(),
            scope: String::new(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            auth_time: None,
            resource: None,
            cnf: None,
            extra,
        }
    }

    #[test]
    fn without_sub_id_the_subject_is_this_servers_user() {
        let c = claims(None);
        assert_eq!(
            c.qualified_subject(),
            Ok(QualifiedSubject {
                iss: "https://as.example.com",
                sub: "usr_1"
            })
        );
    }

    #[test]
    fn sub_id_names_the_issuer_that_established_the_subject() {
        let id = QualifiedSubject {
            iss: "https://idp.example.com",
            sub: "usr_1",
        };
        let c = claims(Some(id.to_claim()));
        assert_eq!(c.qualified_subject(), Ok(id));
    }

    #[test]
    fn a_malformed_sub_id_never_falls_back_to_sub() {
        for bad in [
            json!("https://idp.example.com"),
            json!({"format": "email", "email": "a@example.com"}),
            json!({"format": "iss_sub", "iss": "https://idp.example.com"}),
            json!({"format": "iss_sub", "iss": "", "sub": "x"}),
            json!({"format": "iss_sub", "iss": "https://idp.example.com", "sub": 7}),
            json!({"iss": "https://idp.example.com", "sub": "x"}),
        ] {
            assert_eq!(
                claims(Some(bad.clone())).qualified_subject(),
                Err(MalformedSubjectId),
                "{bad}"
            );
        }
    }
}
