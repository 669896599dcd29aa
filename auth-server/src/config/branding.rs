//! `[ui]` and `[scopes]`: the branding of the sign-in, consent and error pages, and the scope
//! descriptions shown on the consent page.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// Branding of the pages (`[ui]`). Checked at start-up: a bad value stops the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Name shown in the page header and titles (default `mcp-auth`).
    pub product_name: Option<String>,
    /// A local `.png`, `.svg`, `.jpg`/`.jpeg` or `.webp` file of at most 512 KiB, read at start
    /// and served by the server at `/ui/logo`. Never a URL.
    pub logo_path: Option<PathBuf>,
    /// Colour of the primary button: `#rgb` or `#rrggbb`.
    pub primary_color: Option<String>,
    /// A directory whose `base.html`, `login.html`, `consent.html` or `error.html` override the
    /// shipped templates of that name.
    pub templates_dir: Option<PathBuf>,
}

impl UiConfig {
    /// The checked branding, with `descriptions` as the scope descriptions.
    ///
    /// # Errors
    /// The first unusable setting ([`crate::web::ui::UiError`]).
    pub fn settings(
        &self,
        descriptions: crate::web::ui::ScopeDescriptions,
    ) -> Result<crate::web::ui::UiSettings, crate::web::ui::UiError> {
        use crate::web::ui::{Logo, UiSettings};
        let mut ui = UiSettings {
            scope_descriptions: descriptions,
            ..UiSettings::default()
        };
        if let Some(name) = &self.product_name {
            UiSettings::check_product_name(name)?;
            ui.product_name = name.trim().to_owned();
        }
        ui.logo = self.logo_path.as_deref().map(Logo::load).transpose()?;
        ui.primary_color = self.primary_color.as_deref().map(str::parse).transpose()?;
        if let Some(dir) = &self.templates_dir {
            if !dir.is_dir() {
                return Err(crate::web::ui::UiError::Templates {
                    path: dir.display().to_string(),
                    message: "not a readable directory".into(),
                });
            }
            ui.templates_dir = Some(dir.clone());
        }
        Ok(ui)
    }
}

impl Config {
    /// The pages' branding and scope descriptions (`[ui]`, `[scopes]`, each resource's
    /// `scope_descriptions`), checked; the logo file is read here.
    ///
    /// # Errors
    /// A URL or unusable file as `ui.logo_path`, a malformed `ui.primary_color`, a missing
    /// `ui.templates_dir`, an empty product name or scope description.
    pub fn ui_settings(&self) -> Result<crate::web::ui::UiSettings, ConfigError> {
        let mut descriptions = crate::web::ui::ScopeDescriptions::new(self.scopes.clone())
            .map_err(|e| ConfigError(e.to_string()))?;
        for r in &self.resources {
            descriptions = descriptions
                .with_resource(&r.resource, r.scope_descriptions.clone())
                .map_err(|e| ConfigError(format!("resource {}: {e}", r.resource)))?;
        }
        self.ui
            .settings(descriptions)
            .map_err(|e| ConfigError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: `[ui]`, `[scopes]` and a resource's `scope_descriptions` are read from the
    /// file; the resource's description wins.
    #[test]
    fn ui_and_scope_descriptions_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let logo = dir.path().join("logo.png");
        std::fs::write(&logo, b"\x89PNG\r\n\x1a\n....").unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[resources]]\nresource = \"https://mcp.example.com/mcp\"\nscopes = [\"files:write\", \"files:read\"]\nscope_descriptions = {{ \"files:write\" = \"Create, change and delete your files\" }}\n[scopes]\n\"files:read\" = \"Read your files\"\n\"files:write\" = \"Write\"\n[ui]\nproduct_name = \"Acme\"\nprimary_color = \"#0B6E4F\"\nlogo_path = {:?}\n",
                logo.display().to_string()
            ),
        )
        .unwrap();
        let c = Config {
            default_resource: None,
            ..Config::load(Some(&path)).unwrap()
        };
        let s = c.settings(c.issuer(c.bind).unwrap()).unwrap();
        let d = &s.ui.scope_descriptions;
        let r = "https://mcp.example.com/mcp";
        assert_eq!(
            d.describe(r, "files:write"),
            Some("Create, change and delete your files")
        );
        assert_eq!(d.describe(r, "files:read"), Some("Read your files"));
        assert_eq!(d.describe(r, "mcp:basic"), None);
        assert_eq!(s.ui.product_name, "Acme");
        assert_eq!(s.ui.primary_color.as_ref().unwrap().as_str(), "#0b6e4f");
        assert_eq!(s.ui.logo.as_ref().unwrap().content_type(), "image/png");
    }

    /// Issue 14: a remote logo or a colour that is not `#rgb`/`#rrggbb` stops the start.
    #[test]
    fn remote_logo_and_bad_colour_are_startup_errors() {
        let remote = Config {
            ui: UiConfig {
                logo_path: Some("https://cdn.example.com/logo.png".into()),
                ..UiConfig::default()
            },
            ..Config::default()
        };
        let e = remote.settings(remote.issuer(remote.bind).unwrap());
        assert!(e.unwrap_err().to_string().contains("ui.logo_path"));
        let colour = Config {
            ui: UiConfig {
                primary_color: Some("red; background: url(x)".into()),
                ..UiConfig::default()
            },
            ..Config::default()
        };
        let e = colour.settings(colour.issuer(colour.bind).unwrap());
        assert!(e.unwrap_err().to_string().contains("ui.primary_color"));
    }
}
