//! The rule for a local user's login name.
//!
//! A login name is shown on pages and compared on sign-in, so two names that look the same must
//! be the same name: names are stored and looked up in Unicode Normalization Form KC (NFKC,
//! UAX #15), which folds compatibility variants (fullwidth `ｇｉｎａ`, ligatures, superscripts)
//! into one form, so a lookalike of an existing user cannot be created beside it. Leading or
//! trailing whitespace, control and format characters (the same set `client_name` refuses:
//! `Cc`, `Cf` including bidirectional controls, `Co`, `Cn`, `Zl`, `Zp`) are refused rather than
//! silently dropped.

use unicode_normalization::UnicodeNormalization;

use super::ParseError;
use super::client_name::is_displayable;

/// Longest accepted login name, in characters (Unicode scalar values), after normalization.
pub const MAX_USERNAME_CHARS: usize = 128;

/// The stored form of a login name typed by an operator or a user: NFKC of `raw`.
///
/// # Errors
/// A [`ParseError`] naming the rule when `raw` is empty, has leading or trailing whitespace,
/// holds a control or format character, or is longer than [`MAX_USERNAME_CHARS`] once
/// normalized.
pub fn normalize_username(raw: &str) -> Result<String, ParseError> {
    if raw.is_empty() {
        return Err(ParseError::new("the username is empty"));
    }
    if let Some(c) = raw.chars().find(|c| !is_displayable(*c)) {
        return Err(ParseError::new(format!(
            "the username contains the control or format character U+{:04X}",
            u32::from(c)
        )));
    }
    if raw.trim() != raw {
        return Err(ParseError::new(
            "the username starts or ends with whitespace",
        ));
    }
    let normalized: String = raw.nfkc().collect();
    // NFKC can turn a compatibility space (U+3000) at either end into an ordinary one.
    if normalized.trim() != normalized || normalized.is_empty() {
        return Err(ParseError::new(
            "the username starts or ends with whitespace",
        ));
    }
    if normalized.chars().count() > MAX_USERNAME_CHARS {
        return Err(ParseError::new(format!(
            "the username is longer than {MAX_USERNAME_CHARS} characters"
        )));
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19 §7: lookalikes normalize to one name, so they cannot coexist.
    #[test]
    fn fullwidth_lookalike_normalizes_to_the_same_name() {
        assert_eq!(normalize_username("ｇｉｎａ").unwrap(), "gina");
        assert_eq!(normalize_username("ﬁona").unwrap(), "fiona");
        assert_eq!(normalize_username("gina").unwrap(), "gina");
    }

    /// Issue 19 §7: leading and trailing whitespace is refused, not trimmed.
    #[test]
    fn surrounding_whitespace_is_refused() {
        for raw in [
            " gina",
            "gina ",
            "\u{3000}gina",
            "gina\u{3000}",
            " ",
            "\tgina",
        ] {
            assert!(normalize_username(raw).is_err(), "{raw:?}");
        }
        assert_eq!(normalize_username("gina m").unwrap(), "gina m");
    }

    /// Issue 19 §7: control and format characters are refused.
    #[test]
    fn control_and_format_characters_are_refused() {
        for raw in [
            "gi\u{0}na",
            "gi\nna",
            "gi\u{202E}na",
            "gi\u{200B}na",
            "gina\u{7F}",
        ] {
            let err = normalize_username(raw).unwrap_err();
            assert!(
                err.to_string().contains("control or format"),
                "{raw:?}: {err}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert!(normalize_username("").is_err());
        assert!(normalize_username(&"a".repeat(MAX_USERNAME_CHARS)).is_ok());
        assert!(normalize_username(&"a".repeat(MAX_USERNAME_CHARS + 1)).is_err());
    }
}
