//! Per-extension configuration: each extension reads its own `[extensions.<name>]` section of
//! the server's configuration, and the binary holds one list of [`ExtensionFactory`]s.

use serde::de::DeserializeOwned;

use super::ServerExtension;

/// A configuration problem in one `[extensions.<name>]` section; the server refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[extensions.{section}]: {message}")]
pub struct ExtensionConfigError {
    /// The section's `<name>`.
    pub section: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// One `[extensions.<name>]` section of the configuration, as a JSON value (TOML tables, arrays
/// and scalars map one to one; `MCP_AUTH_EXTENSIONS__<NAME>__<KEY>` environment variables are
/// already merged in). The extension's own crate gives it its meaning.
///
/// ```
/// use mcp_auth_core::ext::ExtensionSection;
///
/// #[derive(serde::Deserialize)]
/// struct MyConfig { enabled: bool, #[serde(default)] ttl: u64 }
///
/// let section = ExtensionSection::new("mine", serde_json::json!({"enabled": true, "ttl": 30}));
/// assert!(section.enabled());
/// let config: MyConfig = section.parse().unwrap();
/// assert_eq!(config.ttl, 30);
/// ```
///
/// `Debug` prints the section's name and key names only: a section may hold an extension's
/// secrets.
#[derive(Clone, PartialEq)]
pub struct ExtensionSection {
    name: String,
    value: serde_json::Value,
}

impl std::fmt::Debug for ExtensionSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&String> = self
            .value
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        f.debug_struct("ExtensionSection")
            .field("name", &self.name)
            .field("keys", &keys)
            .finish()
    }
}

impl ExtensionSection {
    /// The section `[extensions.<name>]` holding `value`.
    pub fn new(name: impl Into<String>, value: serde_json::Value) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }

    /// The section's `<name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the section says `enabled = true` (a boolean, or the string `"true"` from an
    /// environment variable). Anything else, including a missing key, is off.
    pub fn enabled(&self) -> bool {
        match self.value.get("enabled") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        }
    }

    /// The raw section.
    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }

    /// The section deserialized as the extension's configuration type.
    ///
    /// # Errors
    /// [`ExtensionConfigError`] naming the section and the serde error (unknown key, wrong
    /// type).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ExtensionConfigError> {
        serde_json::from_value(self.value.clone()).map_err(|e| self.error(e.to_string()))
    }

    /// An error about this section.
    pub fn error(&self, message: impl Into<String>) -> ExtensionConfigError {
        ExtensionConfigError {
            section: self.name.clone(),
            message: message.into(),
        }
    }
}

/// Makes one extension from its configuration section. The `auth-server` binary holds one list
/// of factories (one line per extension crate, each behind a cargo feature); a section whose
/// name no factory claims is a configuration error.
pub trait ExtensionFactory: Send + Sync {
    /// The `<name>` of the `[extensions.<name>]` section this factory reads, e.g.
    /// `client_credentials`. Lower case, `_` between words (environment variable names are
    /// lower-cased).
    fn name(&self) -> &'static str;

    /// The extension configured by `section`; called only when [`ExtensionSection::enabled`].
    ///
    /// # Errors
    /// [`ExtensionConfigError`] for a malformed section.
    fn create(
        &self,
        section: &ExtensionSection,
    ) -> Result<Box<dyn ServerExtension>, ExtensionConfigError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_key_names_but_never_values() {
        let section = ExtensionSection::new(
            "vault",
            serde_json::json!({"enabled": true, "master_key": "s3cr3t-value"}),
        );
        let printed = format!("{section:?}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert_eq!(
            printed,
            r#"ExtensionSection { name: "vault", keys: ["enabled", "master_key"] }"#
        );
    }
}
