//! The rule for a client's display name (`client_name`, RFC 7591 §2), shared by dynamic
//! registration and Client ID Metadata Documents.
//!
//! The name is shown to the user on the consent page, next to the verified domain. Characters
//! that change how the surrounding text reads are refused, so a name cannot pretend to be the
//! domain or reorder the page: bidirectional controls (U+202A–U+202E, U+2066–U+2069), every other
//! format character (general category `Cf`: zero-width spaces and joiners, U+FEFF, tags), control
//! characters (`Cc`), line and paragraph separators (`Zl`, `Zp`), private-use (`Co`) and
//! unassigned (`Cn`) code points.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::ParseError;

/// Longest accepted `client_name`, in characters (Unicode scalar values).
pub const MAX_CLIENT_NAME_CHARS: usize = 200;

/// Check a `client_name` (RFC 7591 §2) before it is stored or displayed.
///
/// # Errors
/// A [`ParseError`] whose message is safe to return as `error_description` when the name is
/// empty or blank, longer than [`MAX_CLIENT_NAME_CHARS`], or holds a character that is not shown
/// as itself (see the module documentation).
pub fn check_client_name(name: &str) -> Result<(), ParseError> {
    if name.trim().is_empty() {
        return Err(ParseError::new("client_name is empty"));
    }
    if name.chars().count() > MAX_CLIENT_NAME_CHARS {
        return Err(ParseError::new(format!(
            "client_name is longer than {MAX_CLIENT_NAME_CHARS} characters"
        )));
    }
    if let Some(c) = name.chars().find(|c| !is_displayable(*c)) {
        return Err(ParseError::new(format!(
            "client_name contains the control or format character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

pub(super) fn is_displayable(c: char) -> bool {
    !matches!(
        c.general_category(),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
    ) && c.general_category_group() != GeneralCategoryGroup::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #8 item 6: bidirectional embedding, override and isolate controls are refused.
    #[test]
    fn bidi_controls_are_refused() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let name = format!("Good App{c}moc.live");
            let err = check_client_name(&name).unwrap_err();
            assert_eq!(
                err.0,
                format!(
                    "client_name contains the control or format character U+{:04X}",
                    u32::from(c)
                )
            );
        }
    }

    /// Issue #8 item 6: other format characters (zero-width, BOM, tags, soft hyphen) are refused.
    #[test]
    fn other_format_characters_are_refused() {
        for c in [
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{00AD}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            assert!(
                check_client_name(&format!("App{c}")).is_err(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    /// Control characters, line and paragraph separators and private-use code points are refused.
    #[test]
    fn controls_separators_and_private_use_are_refused() {
        for c in [
            '\u{0}', '\n', '\t', '\u{7F}', '\u{85}', '\u{2028}', '\u{2029}', '\u{E000}',
        ] {
            assert!(
                check_client_name(&format!("App{c}x")).is_err(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    /// Ordinary names in any script, with spaces, punctuation and emoji, are accepted.
    #[test]
    fn ordinary_names_in_any_script_are_accepted() {
        for name in [
            "Claude Desktop",
            "Éditeur (bêta)",
            "日本語クライアント",
            "عميل",
            "Tool 🚀 v2.1",
        ] {
            assert_eq!(check_client_name(name), Ok(()), "{name}");
        }
    }

    /// Blank and over-long names are refused.
    #[test]
    fn blank_and_overlong_names_are_refused() {
        assert!(check_client_name("").is_err());
        assert!(check_client_name("   ").is_err());
        assert!(check_client_name(&"a".repeat(MAX_CLIENT_NAME_CHARS)).is_ok());
        assert!(check_client_name(&"a".repeat(MAX_CLIENT_NAME_CHARS + 1)).is_err());
    }
}
