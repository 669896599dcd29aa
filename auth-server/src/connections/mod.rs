//! Third-party connections (issue 11): URL-mode elicitation callbacks and the token vault.
//!
//! [`Connections`] is what the server holds when `[[connections]]` are configured: the
//! [`Registry`] of connections, the [`VaultService`] (sealed credentials in
//! `Stores::vault`), the HTTP client for third parties and the [`CompletionSignal`].
//! `POST /connect/token` calls [`Connections::get`] and [`Connections::credential`]; the
//! connect pages call [`Connections::start_authorization`],
//! [`Connections::finish_authorization`], [`Connections::store_api_key`] and
//! [`Connections::remove`].

mod audit;
pub mod completion;
pub mod discovery;
pub mod registry;
pub mod third_party;
pub mod vault_service;

use std::sync::Arc;

use mcp_auth_core::store::VaultStore;
use mcp_auth_core::vault::{VaultError, VaultKeyring};
use mcp_auth_core::{Issuer, Secret, StoreError, UnixTime};

pub use completion::CompletionSignal;
pub use registry::{
    Connection, ConnectionKind, Endpoints, Registry, check_third_party_url, is_valid_name,
};
pub use third_party::{AuthorizationStart, ThirdPartyHttp, Tokens};
pub use vault_service::{Credential, EXPIRY_SKEW, VaultService};

/// The path of the callback under the issuer: the redirect URI registered at every third
/// party is `{issuer}/connect/callback`, exactly.
pub const CALLBACK_PATH: &str = "/connect/callback";

/// Why a connection operation failed. The texts name the connection and the step, never a
/// token, secret, key or a third party's response body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A configuration problem.
    #[error("connections configuration: {0}")]
    Config(String),
    /// No connection of that name is configured.
    #[error("unknown connection {0}")]
    UnknownConnection(String),
    /// The third party's metadata could not be fetched or is unusable.
    #[error("third-party discovery: {0}")]
    Discovery(String),
    /// A request to the third party failed or got an unusable answer.
    #[error("third party: {0}")]
    ThirdParty(String),
    /// The third party answered `invalid_grant` (code or refresh token refused).
    #[error("the third party refused the grant (invalid_grant)")]
    GrantRefused,
    /// The store failed (kept as the error's source, so the HTTP layer answers `503`).
    #[error("{0}")]
    Store(#[source] StoreError),
    /// Sealing or opening failed (wrong or missing key, tampered entry).
    #[error("vault: {0}")]
    Vault(VaultError),
    /// An entry opened but its content is not a credential.
    #[error("vault: an entry holds no usable credential")]
    Corrupt,
}

impl From<StoreError> for ConnectionError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The connections of a server. Build with [`Connections::new`] or
/// [`Connections::from_config`]; give it to the server with
/// [`crate::AuthorizationServerBuilder::connections`].
pub struct Connections {
    registry: Arc<Registry>,
    vault: VaultService,
    http: ThirdPartyHttp,
    redirect_uri: String,
    /// Wakes the `/connect/status` waiters of this node when an elicitation finishes.
    pub completion: Arc<CompletionSignal>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("registry", &self.registry)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Connections of the server at `issuer`, sealing with `keyring` into `vault`.
    ///
    /// # Errors
    /// [`ConnectionError::Config`] for a repeated name or when the HTTP client cannot start.
    pub fn new(
        issuer: &Issuer,
        connections: Vec<Connection>,
        keyring: VaultKeyring,
        vault: Arc<dyn VaultStore>,
    ) -> Result<Self, ConnectionError> {
        let registry = Arc::new(Registry::new(connections)?);
        let http = ThirdPartyHttp::new()?;
        let redirect_uri = issuer.endpoint(CALLBACK_PATH);
        Ok(Self {
            vault: VaultService::new(
                keyring,
                vault,
                registry.clone(),
                http.clone(),
                redirect_uri.clone(),
            ),
            registry,
            http,
            redirect_uri,
            completion: Arc::new(CompletionSignal::new()),
        })
    }

    /// The connections of `config` (`[[connections]]`, `[vault]`), or `None` when none are
    /// configured.
    ///
    /// # Errors
    /// [`ConnectionError::Config`]: the checks of
    /// [`crate::config::Config::check_connections`] (connections without a vault key, …).
    pub fn from_config(
        config: &crate::config::Config,
        issuer: &Issuer,
        vault: Arc<dyn VaultStore>,
    ) -> Result<Option<Self>, ConnectionError> {
        config
            .check_connections()
            .map_err(|e| ConnectionError::Config(e.0))?;
        if config.connections.is_empty() {
            return Ok(None);
        }
        let keyring = config
            .vault_keyring()
            .map_err(|e| ConnectionError::Config(e.0))?
            .ok_or_else(|| ConnectionError::Config("no vault key".into()))?;
        let list = config
            .connections
            .iter()
            .map(Connection::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(issuer, list, keyring, vault).map(Some)
    }

    /// The connection named `name` (the `audience` of `/connect/token`).
    pub fn get(&self, name: &str) -> Option<&Connection> {
        self.registry.get(name)
    }

    /// Every connection, in configuration order.
    pub fn all(&self) -> &[Connection] {
        self.registry.all()
    }

    /// The redirect URI registered at the third parties: `{issuer}/connect/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The vault.
    pub fn vault(&self) -> &VaultService {
        &self.vault
    }

    /// The usable credential of user (`iss`, `sub`) for `connection` at `now` (seconds since
    /// the epoch), refreshing an expired OAuth token first; `Ok(None)` when the user has not
    /// connected it, or the connection died (refresh refused): then create an elicitation.
    /// See [`VaultService::credential`].
    ///
    /// # Errors
    /// [`ConnectionError::UnknownConnection`], store, vault and third-party failures.
    pub async fn credential(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        now: UnixTime,
    ) -> Result<Option<Credential>, ConnectionError> {
        self.vault.credential(iss, sub, connection, now).await
    }

    /// Discover the endpoints of every connection now (best effort: a failure is logged and
    /// discovery is tried again on first use).
    pub async fn warm_up(&self) {
        for c in self.all() {
            if c.kind == ConnectionKind::OAuth
                && let Err(e) = c.endpoints(&self.http).await
            {
                tracing::warn!(connection = %c.name, error = %e, "third-party discovery failed; will retry on first use");
            }
        }
    }

    /// The authorization request for `connection` with `state`: the URL to send the user to
    /// and the PKCE verifier to keep with the state (ELIC-CB-07).
    ///
    /// # Errors
    /// Discovery or configuration failures.
    pub async fn start_authorization(
        &self,
        connection: &Connection,
        state: &Secret,
    ) -> Result<AuthorizationStart, ConnectionError> {
        let endpoints = connection.endpoints(&self.http).await?;
        third_party::authorization_start(connection, &endpoints, &self.redirect_uri, state)
    }

    /// The endpoints of `connection` (configured, or discovered and refreshed hourly).
    ///
    /// # Errors
    /// Discovery failures.
    pub async fn endpoints(
        &self,
        connection: &Connection,
    ) -> Result<Arc<Endpoints>, ConnectionError> {
        connection.endpoints(&self.http).await
    }

    /// Redeem `code` with `code_verifier` and seal the tokens into the vault for (`iss`,
    /// `sub`, `connection`) (ELIC-CB-04).
    ///
    /// # Errors
    /// [`ConnectionError::GrantRefused`], [`ConnectionError::ThirdParty`], store and vault
    /// failures. Nothing is stored on error.
    pub async fn finish_authorization(
        &self,
        iss: &str,
        sub: &str,
        connection: &Connection,
        code: &str,
        code_verifier: &Secret,
        now: UnixTime,
    ) -> Result<(), ConnectionError> {
        let endpoints = connection.endpoints(&self.http).await?;
        let tokens = third_party::redeem_code(
            &self.http,
            connection,
            &endpoints,
            &self.redirect_uri,
            code,
            code_verifier,
        )
        .await?;
        let plain = vault_service::Plain::from_tokens(&tokens, now);
        self.vault
            .put(iss, sub, &connection.name, &plain, now)
            .await
    }

    /// Seal an API key into the vault for (`iss`, `sub`, `connection`).
    ///
    /// # Errors
    /// Store and vault failures.
    pub async fn store_api_key(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
        key: &Secret,
        now: UnixTime,
    ) -> Result<(), ConnectionError> {
        self.vault.put_api_key(iss, sub, connection, key, now).await
    }

    /// Record the vault's events (`connection_added`, `_removed`, `_refreshed`; issue 25 §2)
    /// with `sink` at `clock`'s time from now on; the first call wins. The server lends its
    /// own sink when it is built with these connections.
    pub fn lend_audit(
        &self,
        sink: Arc<dyn mcp_auth_core::ext::AuditSink>,
        clock: Arc<dyn mcp_auth_core::Clock>,
    ) {
        self.vault.audit.lend(sink, clock);
    }

    /// Remove a user's connection: revoke at the third party (RFC 7009, best effort, refresh
    /// token first), then delete the vault entry. `true` when there was one.
    ///
    /// # Errors
    /// Store failures.
    pub async fn remove(
        &self,
        iss: &str,
        sub: &str,
        connection: &str,
    ) -> Result<bool, ConnectionError> {
        self.vault.remove(iss, sub, connection).await
    }
}

/// Whether an API key typed into the form is acceptable: 1 to 4096 visible ASCII characters
/// (no spaces or controls).
pub fn is_valid_api_key(key: &str) -> bool {
    (1..=4096).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}
