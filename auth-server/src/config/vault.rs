//! `[vault]`: the keys of the token vault that keeps the users' third-party credentials.

use std::collections::BTreeMap;

use mcp_auth_core::Secret;
use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// `[vault]`: the keys of the token vault (AES-256-GCM, issue 11). `Debug` prints the key ids
/// only; the keys are never serialized back out.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The current key: standard base64 of 32 random bytes (also `MCP_AUTH_VAULT__KEY`).
    /// Required when `[[connections]]` exist; it seals every new entry.
    #[serde(skip_serializing)]
    pub key: Option<Secret>,
    /// The current key's id, stored with each entry (default `k1`).
    pub key_id: String,
    /// Earlier keys by id (`old_keys = { k0 = "<base64>" }`): they only open entries sealed
    /// before a rotation; an entry opened with one is sealed again under the current key.
    #[serde(skip_serializing)]
    pub old_keys: BTreeMap<String, Secret>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            key: None,
            key_id: DEFAULT_VAULT_KEY_ID.to_owned(),
            old_keys: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("key", &mcp_auth_core::secret::Redacted::option(&self.key))
            .field("key_id", &self.key_id)
            .field("old_keys", &self.old_keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Default of [`VaultConfig::key_id`].
pub const DEFAULT_VAULT_KEY_ID: &str = "k1";

impl Config {
    /// The vault keyring of `[vault]`: the current key first, then `old_keys`; `None` when no
    /// key is configured.
    ///
    /// # Errors
    /// A key that is not base64 of 32 bytes, a bad or repeated key id (the message names the
    /// setting, never the key).
    pub fn vault_keyring(&self) -> Result<Option<mcp_auth_core::vault::VaultKeyring>, ConfigError> {
        let Some(key) = &self.vault.key else {
            if !self.vault.old_keys.is_empty() {
                return Err(ConfigError("vault.old_keys given without vault.key".into()));
            }
            return Ok(None);
        };
        let mut keys: Vec<(&str, &Secret)> = vec![(self.vault.key_id.as_str(), key)];
        keys.extend(self.vault.old_keys.iter().map(|(id, k)| (id.as_str(), k)));
        mcp_auth_core::vault::VaultKeyring::new(&keys)
            .map(Some)
            .map_err(|e| ConfigError(format!("vault: {e}")))
    }
}
