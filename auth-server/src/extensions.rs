//! The extensions the `auth-server` binary knows: one list of factories, each behind a
//! default-on cargo feature. Each factory reads its own `[extensions.<name>]` section of the
//! configuration ([`mcp_auth_core::ext::ExtensionFactory`]).
//!
//! **To add an extension crate** (e.g. `ext-xaa`): in `auth-server/Cargo.toml`, add it as an
//! optional dependency and a default-on feature `ext-<name> = ["dep:<crate>"]`; then add ONE
//! line to [`factories`]. Nothing else in `auth-server` changes: the crate's grant states its
//! client-authentication policy, registration rules, scope ceiling and resource hint, and the
//! engine, `/register`, `client add`, metadata and the start-up checks follow from the registry.

use crate::wiring::ExtensionsError;
use mcp_auth_core::ext::{ExtensionFactory, ExtensionSection, Registry, ServerExtension};

/// Every extension factory compiled into this binary.
pub fn factories() -> Vec<Box<dyn ExtensionFactory>> {
    vec![
        Box::new(mcp_auth_cimd_resolver::CimdFactory),
        #[cfg(feature = "ext-client-credentials")]
        Box::new(mcp_auth_ext_client_credentials::ClientCredentialsFactory),
        #[cfg(feature = "ext-xaa")]
        Box::new(mcp_auth_ext_xaa::redeem::XaaFactory),
        #[cfg(feature = "ext-xaa")]
        Box::new(mcp_auth_ext_xaa::idp::IdpFactory),
        #[cfg(feature = "ext-wif")]
        Box::new(mcp_auth_ext_wif::WorkloadIdentityFactory),
    ]
}

/// The "next steps" the `serve` banner adds for the extensions installed in `registry`: how to
/// register a client of each extension grant that needs its own kind of client.
pub fn next_steps(registry: &Registry) -> Vec<&'static str> {
    let mut steps = Vec::new();
    if registry
        .grant(mcp_auth_core::GrantType::CLIENT_CREDENTIALS)
        .is_some()
    {
        steps.push(
            "register a machine client: auth-server client add --name 'Reporter' --grant client_credentials --scope 'mcp:basic' --resource <resource>",
        );
    }
    steps
}

/// Lend the extensions what they borrow from the server beyond
/// [`mcp_auth_core::ext::ExtensionServices`]'s named services (by type, through
/// [`crate::server::AuthorizationServerBuilder::shared_service`]): the client metadata document
/// cache shared by every node (PostgreSQL's `document_cache`, when given) and the server's
/// adaptations of the `cimd` extension ([`crate::cimd::lend`]).
///
/// # Errors
/// An HTTP client could not be built.
pub fn lend_services(
    builder: crate::server::AuthorizationServerBuilder,
    clock: std::sync::Arc<dyn mcp_auth_core::Clock>,
    document_cache: Option<std::sync::Arc<crate::storage::postgres::PgCimdCache>>,
) -> Result<crate::server::AuthorizationServerBuilder, reqwest::Error> {
    crate::cimd::lend(
        builder,
        clock,
        document_cache.map(crate::storage::postgres::bounded_cimd_cache),
    )
}

/// The extensions `sections` turn on (`enabled = true`), made by the factory of each section's
/// name, in section-name order.
///
/// # Errors
/// A section whose name no factory in `factories` reads (a typo, or an extension not compiled
/// in), a section without an `enabled` key, or a malformed enabled section; the message names
/// the section.
pub fn from_sections(
    factories: &[Box<dyn ExtensionFactory>],
    sections: &[ExtensionSection],
) -> Result<Vec<Box<dyn ServerExtension>>, ExtensionsError> {
    let mut extensions = Vec::new();
    for section in sections {
        let Some(factory) = factories.iter().find(|f| f.name() == section.name()) else {
            let known: Vec<&str> = factories.iter().map(|f| f.name()).collect();
            return Err(ExtensionsError::Unknown {
                section: section.name().to_owned(),
                known: if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                },
            });
        };
        if section.value().get("enabled").is_none() {
            // Also catches a misspelt `enabled`, which would otherwise leave the extension off
            // without a word.
            return Err(ExtensionsError::EnabledMissing(section.name().to_owned()));
        }
        if section.enabled() {
            extensions.push(factory.create(section)?);
        }
    }
    Ok(extensions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 24 §3: `[extensions.workload_identity]` is read by a factory of this build, and a
    /// malformed section names itself.
    #[cfg(feature = "ext-wif")]
    #[test]
    fn the_workload_identity_section_is_known() {
        let bad = [ExtensionSection::new(
            "workload_identity",
            serde_json::json!({"enabled": true, "trusted_issuers": [{"issuer": "https://k8s.example.com"}]}),
        )];
        let err = from_sections(&factories(), &bad).err().unwrap().to_string();
        assert!(err.contains("workload_identity"), "{err}");
        assert!(!err.contains("no such extension"), "{err}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let sections = [ExtensionSection::new(
            "clinet_credentials",
            serde_json::json!({"enabled": true}),
        )];
        let err = from_sections(&factories(), &sections)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("[extensions.clinet_credentials]: no such extension in this build"),
            "{err}"
        );
    }

    #[cfg(feature = "ext-client-credentials")]
    #[test]
    fn a_section_must_say_whether_it_is_enabled() {
        let typo = [ExtensionSection::new(
            "client_credentials",
            serde_json::json!({"enabld": true}),
        )];
        assert_eq!(
            from_sections(&factories(), &typo)
                .err()
                .unwrap()
                .to_string(),
            "[extensions.client_credentials]: say `enabled = true` or `enabled = false`"
        );
    }

    #[cfg(feature = "ext-client-credentials")]
    #[test]
    fn only_enabled_sections_make_extensions() {
        let off = [ExtensionSection::new(
            "client_credentials",
            serde_json::json!({"enabled": false}),
        )];
        assert!(from_sections(&factories(), &off).unwrap().is_empty());
        let on = [ExtensionSection::new(
            "client_credentials",
            serde_json::json!({"enabled": true}),
        )];
        let made = from_sections(&factories(), &on).unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].name(), "client_credentials");
    }
}
