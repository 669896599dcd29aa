//! Configuration errors: [`ConfigError`], where each value came from ([`Origins`]), and the
//! wording of figment's errors (an unknown key with the closest known one, "did you mean").

use figment::Figment;

/// A configuration problem; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Where the values of a loaded [`Config`](super::Config) came from: the file, an `MCP_AUTH_*` variable or a
/// default. Messages name the key and its origin (`tokens.code_ttl = 900 in auth.toml: …`).
#[derive(Clone, Default)]
pub struct Origins(Option<Figment>);

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Origins")
    }
}

impl Origins {
    /// Where `key` (dotted, `tokens.code_ttl`) was set: ` in FILE`, ` (from MCP_AUTH_…)`, or
    /// empty for a default or a configuration not made by [`Config::load`](super::Config::load).
    pub fn of(&self, key: &str) -> String {
        let Some(metadata) = self.0.as_ref().and_then(|f| f.find_metadata(key)) else {
            return String::new();
        };
        match &metadata.source {
            Some(figment::Source::File(file)) => format!(" in {}", file.display()),
            Some(figment::Source::Code(_)) => String::new(),
            _ => format!(" (from MCP_AUTH_{})", key.to_uppercase().replace('.', "__")),
        }
    }

    /// `value` of `key` is between `min` and `max` seconds, or an error naming the key, the
    /// value and where it was set.
    pub(super) fn in_range(
        &self,
        key: &str,
        value: u64,
        min: u64,
        max: u64,
    ) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            return Ok(());
        }
        Err(ConfigError(format!(
            "{key} = {value}{}: must be between {min} and {max} seconds",
            self.of(key)
        )))
    }
}

impl Origins {
    /// The origins recorded in `figment`, the layers [`super::Config::load`] extracted.
    pub(super) fn loaded(figment: Figment) -> Self {
        Self(Some(figment))
    }
}

/// A figment error as this server words it: each problem as `key in FILE: what`, without
/// figment's profile prefix, and an unknown key with the closest known one ("did you mean").
pub(super) fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(figment::Source::File(file)) => format!(" in {}", file.display()),
                _ => String::new(),
            };
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, known) => {
                    let closest = known
                        .iter()
                        .map(|k| (strsim::jaro_winkler(field, k), *k))
                        .filter(|(score, _)| *score >= 0.85)
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    match closest {
                        Some((_, k)) => format!("unknown key; did you mean `{k}`?"),
                        None => format!("unknown key (known here: {})", known.join(", ")),
                    }
                }
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("{what}{origin}")
            } else {
                format!("{key}{origin}: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The key of the `MCP_AUTH_*` variable an unknown-field error of `error` comes from (lower
/// case, `__` between levels, as `Config::figment` filters it), or `None` when the error is
/// anything else (an unknown key in the file stays an error).
pub(super) fn unknown_environment_key(error: &figment::Error) -> Option<String> {
    let figment::error::Kind::UnknownField(field, _) = &error.kind else {
        return None;
    };
    let from_environment = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name.contains("environment"));
    if !from_environment {
        return None;
    }
    // The path starts with the profile (`default`), which is no part of the variable's name.
    let mut parts: Vec<&str> = error
        .path
        .iter()
        .map(String::as_str)
        .skip_while(|p| *p == "default")
        .collect();
    if parts.last() != Some(&field.as_str()) {
        parts.push(field);
    }
    Some(parts.join("__"))
}
#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn unknown_key_is_an_error() {
        let dir = std::env::temp_dir().join(format!("mcp-auth-config-u-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "isuer = \"typo\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
