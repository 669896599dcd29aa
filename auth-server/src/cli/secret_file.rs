//! The start-up warning for a configuration file that holds secrets and that other users can
//! read (issue 19 §7).
//!
//! The file may carry `session_secret`, the vault keys (`[vault] key`, `old_keys`), third-party
//! and upstream `client_secret`s and extension secrets. Such a file should be readable by the
//! server's own user only (`chmod 600`), or the secrets should come from `MCP_AUTH_*`
//! environment variables instead. The server still starts: the warning names the file and its
//! mode so the operator can fix it.

use std::path::Path;

/// Key names whose value is a secret, wherever they appear in the file (any table).
const SECRET_KEYS: &[&str] = &["key", "old_keys", "private_key", "password", "token"];

/// Whether `key` names a secret: one of [`SECRET_KEYS`], or any name containing `secret`.
fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key) || key.contains("secret")
}

/// Whether the parsed TOML `value` holds a secret anywhere: a non-empty value under a key that
/// [`is_secret_key`].
pub(super) fn holds_secrets(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(table) => table.iter().any(|(k, v)| {
            (is_secret_key(k) && !matches!(v, toml::Value::String(s) if s.is_empty()))
                || holds_secrets(v)
        }),
        toml::Value::Array(items) => items.iter().any(holds_secrets),
        _ => false,
    }
}

/// The warning for the configuration file at `path`, if it holds secrets and its permission
/// bits let the group or others read it (Unix; `None` elsewhere, or when the file cannot be
/// read: loading it reports that).
pub(super) fn warning(path: &Path) -> Option<String> {
    let mode = permission_bits(path)?;
    if mode & 0o044 == 0 {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    holds_secrets(&value).then(|| {
        format!(
            "the configuration file {} holds secrets and is readable by other users (mode {:04o}); \
             run `chmod 600` on it, or move the secrets into MCP_AUTH_* environment variables",
            path.display(),
            mode & 0o7777
        )
    })
}

#[cfg(unix)]
fn permission_bits(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::metadata(path).ok()?.permissions().mode())
}

#[cfg(not(unix))]
fn permission_bits(_: &Path) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> toml::Value {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn secrets_are_found_in_any_table() {
        assert!(holds_secrets(&parse("session_secret = \"0123\"")));
        assert!(holds_secrets(&parse("[vault]\nkey = \"abc\"")));
        assert!(holds_secrets(&parse(
            "[[connections]]\nname = \"c\"\nclient_secret = \"s\""
        )));
        assert!(holds_secrets(&parse(
            "[extensions.xaa_idp]\nsigning_secret = \"s\""
        )));
        assert!(!holds_secrets(&parse(
            "bind = \"127.0.0.1:0\"\n[vault]\nkey_id = \"k1\""
        )));
        assert!(!holds_secrets(&parse("session_secret = \"\"")));
    }

    /// Rule "a configuration file holding secrets that others can read gets a start-up
    /// warning naming the file and its mode" (issue 19 §7).
    #[cfg(unix)]
    #[test]
    fn readable_secret_file_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        std::fs::write(
            &path,
            "session_secret = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = warning(&path).expect("a warning");
        assert!(w.contains(&path.display().to_string()), "{w}");
        assert!(w.contains("mode 0644"), "{w}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(warning(&path), None);
        let plain = dir.path().join("plain.toml");
        std::fs::write(&plain, "bind = \"127.0.0.1:0\"\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(warning(&plain), None);
    }
}
