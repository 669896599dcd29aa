//! [`SubjectPattern`]: which workload subjects an issuer's assertions may carry.

use std::fmt;
use std::str::FromStr;

/// A pattern a workload assertion's `sub` must match (SEP-1933 per-workload claim rules,
/// EXT-R2-09), such as `system:serviceaccount:payments:*` (a Kubernetes service account of one
/// namespace) or `repo:acme/*:ref:refs/heads/main` (the `main` branch of any repository of one
/// GitHub organisation).
///
/// Rules, chosen so that a pattern never matches more than it reads:
/// - a `*` matches **one or more** characters, **never a `:`**: it stays within one
///   `:`-separated field of the subject, so `system:serviceaccount:ns:*` matches
///   `system:serviceaccount:ns:builder` but not `system:serviceaccount:ns:` (empty name) nor
///   `system:serviceaccount:ns:a:b`, and `repo:org/*:ref:refs/heads/main` matches no subject of
///   another organisation or branch;
/// - every other character matches itself exactly (case-sensitive, no escapes, no `?`, no
///   character classes);
/// - a pattern is non-empty, has no control characters or whitespace, no `**`, and is not a
///   bare `*` (which would match every one-field subject).
///
/// ```
/// use mcp_auth_ext_wif::SubjectPattern;
///
/// let p: SubjectPattern = "repo:acme/*:ref:refs/heads/main".parse().unwrap();
/// assert!(p.matches("repo:acme/api:ref:refs/heads/main"));
/// assert!(!p.matches("repo:acme/api:ref:refs/heads/dev"));
/// assert!(!p.matches("repo:other/api:ref:refs/heads/main"));
/// assert!(!p.matches("repo:acme/x:y:ref:refs/heads/main"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectPattern {
    raw: String,
}

/// Why a pattern is refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subject pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for SubjectPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| {
            Err(PatternError {
                pattern: s.to_owned(),
                reason,
            })
        };
        if s.is_empty() {
            return refuse("is empty");
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return refuse("has whitespace or control characters");
        }
        if s.contains("**") {
            return refuse("has ** (a * already matches a whole run of characters)");
        }
        if s == "*" {
            return refuse("is a bare * (it would match every one-field subject)");
        }
        Ok(Self { raw: s.to_owned() })
    }
}

impl fmt::Debug for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubjectPattern({:?})", self.raw)
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl SubjectPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when `subject` matches (see the type's rules). Linear in the lengths: a `*` never
    /// crosses a `:`, so pattern and subject are compared field by field.
    pub fn matches(&self, subject: &str) -> bool {
        let mut pattern_fields = self.raw.split(':');
        let mut subject_fields = subject.split(':');
        loop {
            match (pattern_fields.next(), subject_fields.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) if field_matches(p, s) => {}
                _ => return false,
            }
        }
    }
}

/// One `:`-free field: the pieces between `*`s appear in order, the first at the start, the last
/// at the end, each `*` standing for at least one character. The leftmost placement of each
/// middle piece leaves the most room for the rest, so it is the only one tried.
fn field_matches(pattern: &str, field: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = pieces.as_slice() else {
        // No `*`: `split` yields one piece.
        return pattern == field;
    };
    let Some(mut rest) = field.strip_prefix(first) else {
        return false;
    };
    for piece in middle {
        // The `*` before `piece` takes at least one character.
        let Some(skip) = rest.chars().next().map(char::len_utf8) else {
            return false;
        };
        match rest[skip..].find(piece) {
            Some(at) => rest = &rest[skip + at + piece.len()..],
            None => return false,
        }
    }
    // The last `*` takes at least one character before `last`.
    rest.len() > last.len()
        && rest.ends_with(last)
        && rest.is_char_boundary(rest.len() - last.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> SubjectPattern {
        s.parse().unwrap()
    }

    #[test]
    fn kubernetes_service_accounts_of_one_namespace() {
        let ns = p("system:serviceaccount:payments:*");
        assert!(ns.matches("system:serviceaccount:payments:builder"));
        assert!(ns.matches("system:serviceaccount:payments:a"));
        assert!(!ns.matches("system:serviceaccount:payments:"));
        assert!(!ns.matches("system:serviceaccount:payments"));
        assert!(!ns.matches("system:serviceaccount:payments:a:b"));
        assert!(!ns.matches("system:serviceaccount:payments-evil:builder"));
        assert!(!ns.matches("system:serviceaccount:other:builder"));
        assert!(!ns.matches("xsystem:serviceaccount:payments:builder"));
        assert!(!ns.matches("System:serviceaccount:payments:builder"));
    }

    #[test]
    fn github_actions_main_branch_of_one_organisation() {
        let gh = p("repo:acme/*:ref:refs/heads/main");
        assert!(gh.matches("repo:acme/api:ref:refs/heads/main"));
        assert!(gh.matches("repo:acme/a/b:ref:refs/heads/main"));
        assert!(!gh.matches("repo:acme/:ref:refs/heads/main"));
        assert!(!gh.matches("repo:acme/api:ref:refs/heads/main2"));
        assert!(!gh.matches("repo:acme/api:ref:refs/heads/mai"));
        assert!(!gh.matches("repo:acme/api:pull_request"));
        assert!(!gh.matches("repo:acme/api:environment:prod:ref:refs/heads/main"));
        assert!(!gh.matches("repo:acme-evil/api:ref:refs/heads/main"));
        assert!(!gh.matches("repo:acmex/api:ref:refs/heads/main"));
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        let e = p("system:serviceaccount:ns:builder");
        assert!(e.matches("system:serviceaccount:ns:builder"));
        assert!(!e.matches("system:serviceaccount:ns:builder2"));
        assert!(!e.matches("system:serviceaccount:ns:builde"));
        assert!(!e.matches(""));
    }

    /// Odd shapes: stars at both ends, several stars in one field, a star next to a `:`,
    /// repeated pieces that tempt a greedy matcher, multi-byte characters.
    #[test]
    fn odd_shapes() {
        let both = p("*-runner-*");
        assert!(both.matches("eu-runner-7"));
        assert!(!both.matches("-runner-7"));
        assert!(!both.matches("eu-runner-"));
        assert!(!both.matches("eu-runner"));
        let many = p("a*b*c");
        assert!(many.matches("axbyc"));
        assert!(many.matches("axbbbyc"));
        assert!(!many.matches("abbc"));
        assert!(many.matches("abbxc"));
        assert!(!many.matches("abc"));
        assert!(!many.matches("axbc"));
        assert!(!many.matches("ax:byc"));
        let repeat = p("ab*ab");
        assert!(repeat.matches("abxab"));
        assert!(repeat.matches("ababab"));
        assert!(!repeat.matches("abab"));
        assert!(!repeat.matches("ab"));
        let lead = p("*:x");
        assert!(lead.matches("a:x"));
        assert!(!lead.matches(":x"));
        assert!(!lead.matches("a:b:x"));
        let trail = p("x:*");
        assert!(trail.matches("x:é"));
        assert!(!trail.matches("x:"));
        let unicode = p("é*é");
        assert!(unicode.matches("éaé"));
        assert!(unicode.matches("ééé"));
        assert!(!unicode.matches("éé"));
        let empty_fields = p("a::*");
        assert!(empty_fields.matches("a::b"));
        assert!(!empty_fields.matches("a:b:c"));
    }

    #[test]
    fn unsafe_or_empty_patterns_are_refused() {
        for bad in ["", "*", "**", "a:**", "a b", "a\tb", "a\nb", "a:\u{7f}"] {
            assert!(bad.parse::<SubjectPattern>().is_err(), "{bad:?}");
        }
        let err = "**".parse::<SubjectPattern>().unwrap_err();
        assert_eq!(err.pattern, "**");
    }
}
