//! `[extensions.<name>]`: each extension's own section, and the `client_credentials = true`
//! shorthand.

use mcp_auth_core::ext::ExtensionSection;

use super::Config;

/// The section the `client_credentials = true` shorthand (and `serve --client-credentials`)
/// turns on.
pub const CLIENT_CREDENTIALS_SECTION: &str = "client_credentials";

impl Config {
    /// The `[extensions.<name>]` sections, with the `client_credentials = true` shorthand
    /// applied (it sets `enabled = true` in `[extensions.client_credentials]`).
    pub fn extension_sections(&self) -> Vec<ExtensionSection> {
        let mut sections = self.extensions.clone();
        if self.client_credentials {
            let section = sections
                .entry(CLIENT_CREDENTIALS_SECTION.to_owned())
                .or_insert_with(|| serde_json::json!({}));
            if let Some(table) = section.as_object_mut() {
                table.insert("enabled".into(), serde_json::Value::Bool(true));
            }
        }
        sections
            .into_iter()
            .map(|(name, value)| ExtensionSection::new(name, value))
            .collect()
    }
}

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
        let sections = c.extension_sections();
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].name(), "client_credentials");
        assert!(!sections[0].enabled());
        assert_eq!(sections[0].value()["require_resource"], true);
        let shorthand = Config {
            client_credentials: true,
            ..c
        };
        let sections = shorthand.extension_sections();
        assert!(sections[0].enabled());
        assert_eq!(sections[0].value()["require_resource"], true);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
