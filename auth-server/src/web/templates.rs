//! HTML templates (minijinja, auto-escaped), embedded in the binary.

use minijinja::Environment;
use serde::Serialize;

/// The page templates, loaded once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Load the embedded templates.
    ///
    /// # Errors
    /// A template syntax error (a build defect, caught by the tests).
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("base.html", include_str!("../../templates/base.html"))?;
        env.add_template("login.html", include_str!("../../templates/login.html"))?;
        env.add_template("consent.html", include_str!("../../templates/consent.html"))?;
        env.add_template("error.html", include_str!("../../templates/error.html"))?;
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
}
