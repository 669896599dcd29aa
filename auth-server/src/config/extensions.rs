//! `[extensions.<name>]`: each extension's own section, and the `client_credentials = true`
//! shorthand.

use mcp_auth_core::ext::ExtensionSection;

use super::{CimdConfig, Config, ConfigError};

/// The section the `client_credentials = true` shorthand (and `serve --client-credentials`)
/// turns on.
pub const CLIENT_CREDENTIALS_SECTION: &str = "client_credentials";

impl Config {
    /// The `[extensions.<name>]` sections, with the `client_credentials = true` shorthand
    /// applied (it sets `enabled = true` in `[extensions.client_credentials]`).
    ///
    /// The top-level `[cimd]` section is an alias of `[extensions.cimd]`: when the latter is
    /// absent, `[cimd]` (or its defaults: CIMD is on unless turned off) becomes it.
    ///
    /// # Errors
    /// Both `[cimd]` (with a value other than its default) and `[extensions.cimd]` are given.
    pub fn extension_sections(&self) -> Result<Vec<ExtensionSection>, ConfigError> {
        let mut sections = self.extensions.clone();
        if sections.contains_key(CIMD_SECTION) {
            if self.cimd != CimdConfig::default() {
                return Err(ConfigError(
                    "[cimd] is an alias of [extensions.cimd]: give one of them, not both".into(),
                ));
            }
        } else {
            let alias = serde_json::to_value(&self.cimd)
                .map_err(|e| ConfigError(format!("[cimd]: {e}")))?;
            sections.insert(CIMD_SECTION.to_owned(), alias);
        }
        if self.client_credentials {
            let section = sections
                .entry(CLIENT_CREDENTIALS_SECTION.to_owned())
                .or_insert_with(|| serde_json::json!({}));
            if let Some(table) = section.as_object_mut() {
                table.insert("enabled".into(), serde_json::Value::Bool(true));
            }
        }
        Ok(sections
            .into_iter()
            .map(|(name, value)| ExtensionSection::new(name, value))
            .collect())
    }
}

/// The `[extensions.<name>]` section `[cimd]` is an alias of.
const CIMD_SECTION: &str = "cimd";

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #9: `[extensions.<name>]` sections are read from the file and overridden by
    /// `MCP_AUTH_EXTENSIONS__<NAME>__<KEY>`; `client_credentials = true` is a shorthand.
    #[test]
    fn extension_sections_come_from_the_file_and_the_shorthand() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-x-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[extensions.client_credentials]\nenabled = false\nrequire_resource = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        let sections = c.extension_sections().unwrap();
        assert_eq!(sections.len(), 2);
        // `[cimd]`, here its defaults, is the alias of `[extensions.cimd]`.
        assert_eq!(sections[0].name(), "cimd");
        assert!(sections[0].enabled());
        assert_eq!(sections[1].name(), "client_credentials");
        assert!(!sections[1].enabled());
        assert_eq!(sections[1].value()["require_resource"], true);
        let shorthand = Config {
            client_credentials: true,
            ..c
        };
        let sections = shorthand.extension_sections().unwrap();
        assert!(sections[1].enabled());
        assert_eq!(sections[1].value()["require_resource"], true);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `[cimd]` is an alias of `[extensions.cimd]`: either one configures CIMD, both is an
    /// error.
    #[test]
    fn cimd_alias_and_extensions_cimd_are_one_section() {
        let mut only_extensions = Config::default();
        only_extensions.extensions.insert(
            "cimd".into(),
            serde_json::json!({"enabled": true, "trusted_hosts": ["app.example.com"]}),
        );
        let sections = only_extensions.extension_sections().unwrap();
        assert_eq!(sections[0].value()["trusted_hosts"][0], "app.example.com");
        let mut both = only_extensions.clone();
        both.cimd.trusted_hosts = vec!["other.example.com".into()];
        let err = both.extension_sections().unwrap_err();
        assert!(err.to_string().contains("alias"), "{err}");
        let mut alias = Config::default();
        alias.cimd.enabled = false;
        let sections = alias.extension_sections().unwrap();
        assert_eq!(sections[0].name(), "cimd");
        assert!(!sections[0].enabled());
    }
}
