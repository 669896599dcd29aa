//! HTML templates (minijinja, auto-escaped): the shipped ones are embedded in the binary; with
//! `ui.templates_dir`, a file of the same name there overrides one (issue 14).
//!
//! Every template sees these globals: `product_name`, `stylesheet_url`, `logo_url` (unset
//! without a logo). The shipped templates in `auth-server/templates/` are the documented base
//! to copy from; an override is read and compiled once, at start-up.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use super::ui::{DEFAULT_PRODUCT_NAME, STYLESHEET_PATH, UiError};

/// The shipped templates: `(name, source)`.
pub const SHIPPED: [(&str, &str); 10] = [
    ("base.html", include_str!("../../templates/base.html")),
    (
        "client_identity.html",
        include_str!("../../templates/client_identity.html"),
    ),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    // The connect pages of URL-mode elicitation (issue 11).
    (
        "connect_login.html",
        include_str!("../../templates/connect_login.html"),
    ),
    (
        "connect_consent.html",
        include_str!("../../templates/connect_consent.html"),
    ),
    (
        "connect_message.html",
        include_str!("../../templates/connect_message.html"),
    ),
    (
        "connections.html",
        include_str!("../../templates/connections.html"),
    ),
    // The account page (issue 25).
    ("account.html", include_str!("../../templates/account.html")),
];

/// What the pages show around their content: the globals of every template.
#[derive(Debug, Clone, Serialize)]
pub struct Branding {
    /// Shown in the header and in titles.
    pub product_name: String,
    /// Absolute URL of the stylesheet.
    pub stylesheet_url: String,
    /// Absolute URL of the logo, when one is configured.
    pub logo_url: Option<String>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            stylesheet_url: STYLESHEET_PATH.to_owned(),
            logo_url: None,
        }
    }
}

/// The page templates, loaded once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Load the embedded templates with the default branding.
    ///
    /// # Errors
    /// A template syntax error (a build defect, caught by the tests).
    pub fn load() -> Result<Self, minijinja::Error> {
        Self::with_overrides(None, &Branding::default()).map_err(|e| match e {
            UiError::Templates { message, .. } => {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message)
            }
            other => {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, other.to_string())
            }
        })
    }

    /// Load the templates: a file of `templates_dir` (when given) overrides the shipped template
    /// of the same name. Every template is compiled now, so a broken override stops the start.
    ///
    /// # Errors
    /// [`UiError::Templates`]: `templates_dir` is not a directory, an override cannot be read, or
    /// a template does not compile.
    pub fn with_overrides(
        templates_dir: Option<&Path>,
        branding: &Branding,
    ) -> Result<Self, UiError> {
        let shown = templates_dir
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "(shipped)".to_owned());
        let fail = |message: String| UiError::Templates {
            path: shown.clone(),
            message,
        };
        let mut env = Environment::new();
        let overrides = match templates_dir {
            Some(dir) if dir.is_dir() => Some(minijinja::path_loader(dir)),
            Some(_) => return Err(fail("not a readable directory".to_owned())),
            None => None,
        };
        env.set_loader(move |name| {
            if let Some(load) = &overrides
                && let Some(source) = load(name)?
            {
                return Ok(Some(source));
            }
            Ok(SHIPPED
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| (*s).to_owned()))
        });
        env.add_global("product_name", branding.product_name.clone());
        env.add_global("stylesheet_url", branding.stylesheet_url.clone());
        if let Some(logo) = &branding.logo_url {
            env.add_global("logo_url", logo.clone());
        }
        for (name, _) in SHIPPED {
            env.get_template(name)
                .map_err(|e| fail(format!("{name}: {e:#}")))?;
        }
        Ok(Self { env })
    }

    /// Render `name` with `ctx`. HTML special characters in values are escaped.
    ///
    /// # Errors
    /// An unknown template or a rendering failure.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_html_escaped() {
        let t = Templates::load().unwrap();
        let html = t
            .render(
                "error.html",
                minijinja::context! { error => "<script>", description => "a\"b" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }

    /// Issue 14: a file in `ui.templates_dir` overrides the shipped template of that name; the
    /// others stay the shipped ones, and the branding globals reach both.
    #[test]
    fn templates_dir_overrides_a_shipped_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("error.html"),
            "{% extends \"base.html\" %}{% block body %}Custom: {{ error }}{% endblock %}",
        )
        .unwrap();
        let branding = Branding {
            product_name: "Acme <MCP>".into(),
            stylesheet_url: "https://as.example/ui/style.css?v=1".into(),
            logo_url: Some("https://as.example/ui/logo?v=2".into()),
        };
        let t = Templates::with_overrides(Some(dir.path()), &branding).unwrap();
        let html = t
            .render(
                "error.html",
                minijinja::context! { error => "invalid_client" },
            )
            .unwrap();
        assert!(html.contains("Custom: invalid_client"), "{html}");
        assert!(html.contains("Acme &lt;MCP&gt;"), "{html}");
        assert!(html.contains("src=\"https:&#x2f;&#x2f;as.example&#x2f;ui&#x2f;logo?v=2\""));
        let login = t
            .render("login.html", minijinja::context! { client_name => "c" })
            .unwrap();
        assert!(login.contains("name=\"password\""));
    }

    /// Issue 14: an override that does not compile stops the start, naming the template.
    #[test]
    fn broken_override_is_a_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("consent.html"), "{% if %}").unwrap();
        let e = Templates::with_overrides(Some(dir.path()), &Branding::default()).unwrap_err();
        assert!(e.to_string().contains("consent.html"), "{e}");
        let missing = dir.path().join("nope");
        assert!(Templates::with_overrides(Some(&missing), &Branding::default()).is_err());
    }
}
