use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// `offline_access` (OpenID Connect Core §11, MCP SEP-2207): a scope of the authorization
/// server, not of any resource. Asked for at the authorization endpoint, it asks for a refresh
/// token; it is never written into an access token's `scope`, a protected resource's
/// `scopes_supported` or a `WWW-Authenticate` challenge.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// One scope token (RFC 6749 §3.3): `1*( %x21 / %x23-5B / %x5D-7E )`, at most 256 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Longest accepted scope token, in bytes.
    pub const MAX_LEN: usize = 256;

    /// The scope token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseError::new("empty scope token"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(ParseError::new("scope token is too long"));
        }
        let ok = s
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            return Err(ParseError::new(
                "scope token has a character outside RFC 6749 §3.3 NQCHAR",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Scope {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> Self {
        s.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.0)
    }
}

/// A set of scopes: the `scope` parameter of RFC 6749 §3.3, space-delimited, order-free,
/// displayed sorted so that wire output is deterministic. At most 64 tokens.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Most scope tokens accepted in one parameter.
    pub const MAX_TOKENS: usize = 64;

    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Add one scope.
    pub fn insert(&mut self, scope: Scope) {
        self.0.insert(scope);
    }

    /// Take `scope` out of the set; true when it was there.
    pub fn remove(&mut self, scope: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|s| s.as_str() != scope);
        self.0.len() != before
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that are also in `other`.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in either set.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes of `self` not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.difference(&other.0).cloned().collect())
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromStr for ScopeSet {
    type Err = ParseError;

    /// Parse a `scope` parameter. Tokens are separated by single spaces (RFC 6749 §3.3); runs of
    /// spaces, tabs and newlines are refused, as is an empty string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseError::new("scope is empty"));
        }
        let mut set = BTreeSet::new();
        for token in s.split(' ') {
            set.insert(token.parse::<Scope>()?);
            if set.len() > Self::MAX_TOKENS {
                return Err(ParseError::new("too many scope tokens"));
            }
        }
        Ok(Self(set))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Ok(Self::new());
        }
        s.parse()
    }
}

impl From<ScopeSet> for String {
    fn from(s: ScopeSet) -> Self {
        s.to_string()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopeSet({:?})", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_is_sorted_and_deduplicated() {
        let s: ScopeSet = "b a b".parse().unwrap();
        assert_eq!(s.to_string(), "a b");
    }

    #[test]
    fn double_space_and_quotes_are_refused() {
        assert!("a  b".parse::<ScopeSet>().is_err());
        assert!("a\"b".parse::<ScopeSet>().is_err());
        assert!("a\\b".parse::<ScopeSet>().is_err());
        assert!("".parse::<ScopeSet>().is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(tokens in proptest::collection::btree_set("[a-z:]{1,12}", 1..8)) {
            let joined = tokens.iter().cloned().collect::<Vec<_>>().join(" ");
            let set: ScopeSet = joined.parse().unwrap();
            let again: ScopeSet = set.to_string().parse().unwrap();
            prop_assert_eq!(set, again);
        }

        #[test]
        fn intersection_is_subset_of_both(a in "[a-c]{1,2}( [a-c]{1,2}){0,4}", b in "[a-c]{1,2}( [a-c]{1,2}){0,4}") {
            let a: ScopeSet = a.parse().unwrap();
            let b: ScopeSet = b.parse().unwrap();
            let i = a.intersection(&b);
            prop_assert!(i.is_subset(&a) && i.is_subset(&b));
            prop_assert!(a.is_subset(&a.union(&b)));
        }
    }
}
