//! The admin commands: clients, users, signing keys. They work on the database named by the
//! configuration, and may run while the server runs (SQLite WAL).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::Args;
use mcp_auth_core::secret::OsSecretGenerator;
use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::{
    Client, ClientId, ClientSecretHash, ClientSource, Clock, GrantType, RedirectUri, ResourceUri,
    ScopeSet, SecretGenerator, SystemClock, TokenEndpointAuthMethod, TokenHash,
};

use std::sync::Arc;

use mcp_auth_core::ext::{ExtensionSection, Registry};

use crate::config::Config;
use crate::grants::{AuthorizationCodeGrant, RefreshTokenGrant};
use crate::keys::SigningKey;
use crate::web::password::hash_password;

use super::{ClientCommand, ConnectionsCommand, ConsentCommand, KeysCommand, UserCommand};

/// Options of `client add`.
#[derive(Debug, Args)]
pub struct ClientAddArgs {
    /// Display name shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI (repeat for several): https, or http on a loopback host.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A grant type (repeat for several). Default: authorization_code and refresh_token.
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Allowed scopes, space-separated. Default: any scope of the target resource.
    #[arg(long)]
    pub scope: Option<String>,
    /// A protected resource the client may get tokens for (repeat for several). Default: any.
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// A public client (token_endpoint_auth_method none), for native and browser apps.
    #[arg(long, conflicts_with_all = ["auth_method", "jwks", "jwks_uri"])]
    pub public: bool,
    /// client_secret_basic (default for confidential clients), client_secret_post or
    /// private_key_jwt.
    #[arg(long = "auth-method")]
    pub auth_method: Option<String>,
    /// JWK Set file with the client's public keys (private_key_jwt).
    #[arg(long)]
    pub jwks: Option<PathBuf>,
    /// URL of the client's JWK Set (private_key_jwt), https.
    #[arg(long = "jwks-uri", conflicts_with = "jwks")]
    pub jwks_uri: Option<String>,
    /// The client always sends DPoP proofs (`dpop_bound_access_tokens`, RFC 9449 §5.2): a token
    /// request without one is refused.
    #[arg(long = "dpop-bound")]
    pub dpop_bound: bool,
}

pub(super) async fn open(config_path: Option<&Path>) -> Result<(Config, Stores), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let stores = crate::storage::open_existing(&config.database_config())
        .await
        .map_err(|e| e.to_string())?;
    Ok((config, stores))
}

pub(super) async fn client(config_path: Option<&Path>, cmd: ClientCommand) -> Result<(), String> {
    let (config, stores) = open(config_path).await?;
    match cmd {
        ClientCommand::Add(args) => {
            let grants = grant_handlers(&config, &stores)?;
            client_add(&stores, &grants, args).await
        }
        ClientCommand::List { json } => client_list(&stores, json).await,
        ClientCommand::Show { client_id, json } => client_show(&stores, &client_id, json).await,
        ClientCommand::RotateSecret { client_id, overlap } => {
            client_rotate_secret(&stores, &client_id, overlap).await
        }
        ClientCommand::Remove { client_id } => client_remove(&stores, &client_id).await,
    }
}

/// `client list`: one line per client, or a JSON array.
async fn client_list(stores: &Stores, json: bool) -> Result<(), String> {
    let clients = stores.clients.list().await.map_err(|e| e.to_string())?;
    let now = SystemClock.now();
    if json {
        let all: Vec<_> = clients.iter().map(|c| client_json(c, now)).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if clients.is_empty() {
        println!("no clients");
    }
    for c in clients {
        println!("{}", client_line(&c, now));
    }
    Ok(())
}

/// `client show`: one client, readable or as JSON.
async fn client_show(stores: &Stores, client_id: &str, json: bool) -> Result<(), String> {
    let id: ClientId = client_id
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| e.0)?;
    let client = stores
        .clients
        .get(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {id}"))?;
    let value = client_json(&client, SystemClock.now());
    if json {
        println!("{value}");
    } else {
        print!("{}", readable(&value));
    }
    Ok(())
}

/// `client rotate-secret`: a new secret, the old ones valid `overlap` seconds more.
async fn client_rotate_secret(
    stores: &Stores,
    client_id: &str,
    overlap: u64,
) -> Result<(), String> {
    let id: ClientId = client_id
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| e.0)?;
    let mut client = stores
        .clients
        .get(&id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no client {id}"))?;
    let secret = OsSecretGenerator::new().secret("cs_", 32);
    let now = SystemClock.now();
    rotate_secret(&mut client, secret.expose(), now, overlap)?;
    stores
        .clients
        .put(&client)
        .await
        .map_err(|e| e.to_string())?;
    println!("client_id: {id}");
    println!("client_secret: {}", secret.expose());
    println!("(the secret is shown once; only its hash is stored)");
    let old = client.secrets.len() - 1;
    if old > 0 {
        println!(
            "{old} previous secret(s) stay valid until {}",
            crate::web::when::rfc3339(
                now.saturating_add(i64::try_from(overlap).unwrap_or(i64::MAX))
            )
        );
    }
    Ok(())
}

/// `client remove`: the client, its refresh tokens (their access tokens denied) and consents.
async fn client_remove(stores: &Stores, client_id: &str) -> Result<(), String> {
    let id: ClientId = client_id
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| e.0)?;
    if !stores
        .clients
        .delete(&id)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("no client {id}"));
    }
    let revoked = stores
        .refresh_tokens
        .revoke_client(id.as_str())
        .await
        .map_err(|e| e.to_string())?;
    deny_revoked(stores, &revoked).await?;
    stores
        .consent
        .revoke_client(id.as_str())
        .await
        .map_err(|e| e.to_string())?;
    println!("removed {id}; revoked {} refresh tokens", revoked.len());
    Ok(())
}

/// One line of `client list`: id, name, method, grants, redirect URIs, allowed scopes, resources,
/// and how many secrets are valid at `now`. Never a secret or a secret hash.
fn client_line(c: &Client, now: mcp_auth_core::UnixTime) -> String {
    let join = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    let live = c
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|exp| now < exp))
        .count();
    format!(
        "{}\t{}\t{}\t{}\t{}\tscope={}\tresources={}\tsecrets={live}",
        c.client_id,
        c.client_name.as_deref().unwrap_or("-"),
        c.token_endpoint_auth_method,
        join(c.grant_types.iter().map(|g| g.to_string()).collect()),
        join(c.redirect_uris.iter().map(|r| r.to_string()).collect()),
        c.scope.as_ref().map_or_else(
            || UNRESTRICTED.to_owned(),
            |s| s.to_string().replace(' ', ",")
        ),
        c.resources.as_ref().map_or_else(
            || UNRESTRICTED.to_owned(),
            |list| join(list.iter().map(|r| r.to_string()).collect())
        ),
    )
}

/// A client's registration as JSON, for `client list --json` and `client show`: everything but
/// its secrets and their hashes, of which only the number valid at `now` is shown
/// (`valid_secrets`).
fn client_json(c: &Client, now: mcp_auth_core::UnixTime) -> serde_json::Value {
    let live = c
        .secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|exp| now < exp))
        .count();
    serde_json::json!({
        "client_id": c.client_id.as_str(),
        "client_name": c.client_name,
        "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uris.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "scope": c.scope.as_ref().map(|s| s.to_string()),
        "resources": c.resources.as_ref().map(|list| list.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
        "jwks_uri": c.jwks_uri,
        "has_jwks": c.jwks.is_some(),
        "client_id_issued_at": c.client_id_issued_at,
        "source": c.source,
        "valid_secrets": live,
    })
}

/// How `client list` and `client show` print a client's `scope` or `resources` when it has
/// none: any scope or resource the server serves.
const UNRESTRICTED: &str = "unrestricted";

/// A JSON object as `key: value` lines (arrays comma-separated, null as `-`, a missing `scope`
/// or `resources` as [`UNRESTRICTED`], times in seconds since the epoch as RFC 3339).
fn readable(value: &serde_json::Value) -> String {
    let mut out = String::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::Null if k == "scope" || k == "resources" => {
                    UNRESTRICTED.to_owned()
                }
                serde_json::Value::Number(n) if k.ends_with("_at") => n
                    .as_i64()
                    .map_or_else(|| n.to_string(), crate::web::when::rfc3339),
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            out.push_str(&format!("{k}: {text}\n"));
        }
    }
    out
}

/// The first line of standard input as a new password: at least 8 characters.
fn read_password() -> Result<String, String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| e.to_string())?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.chars().count() < 8 {
        return Err(
            "the password (first line of standard input) must be at least 8 characters".into(),
        );
    }
    Ok(password.to_owned())
}

/// Revoke the refresh tokens `sub` holds (for `client_id` only when given) and deny the access
/// tokens issued with them; returns how many refresh tokens were revoked.
async fn revoke_user_tokens(
    stores: &Stores,
    sub: &str,
    client_id: Option<&str>,
) -> Result<usize, String> {
    let revoked = stores
        .refresh_tokens
        .revoke_subject(sub, client_id)
        .await
        .map_err(|e| e.to_string())?;
    deny_revoked(stores, &revoked).await?;
    Ok(revoked.len())
}

/// Deny, until they expire, the access tokens issued with `revoked` refresh tokens
/// ([`crate::grants::deny_all`], at the system clock's now).
async fn deny_revoked(
    stores: &Stores,
    revoked: &[mcp_auth_core::store::RevokedAccess],
) -> Result<(), String> {
    use mcp_auth_core::Clock;
    crate::grants::deny_all(stores, revoked, mcp_auth_core::SystemClock.now())
        .await
        .map_err(|e| e.to_string())
}

/// Rotate a confidential client's secret: `new_secret` (stored as its SHA-256 hash) becomes a
/// non-expiring secret; every previous secret expires at `now + overlap` seconds at the latest;
/// secrets expired by then are dropped (with `overlap` = 0, every previous secret is dropped).
///
/// # Errors
/// The client does not authenticate with a secret (`client_secret_basic`/`client_secret_post`).
fn rotate_secret(
    client: &mut Client,
    new_secret: &str,
    now: mcp_auth_core::UnixTime,
    overlap: u64,
) -> Result<(), String> {
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(format!(
            "client {} authenticates with {}, not a secret",
            client.client_id, client.token_endpoint_auth_method
        ));
    }
    let until = now.saturating_add(i64::try_from(overlap).unwrap_or(i64::MAX));
    client.secrets.retain_mut(|s| {
        let exp = s.expires_at.map_or(until, |e| e.min(until));
        s.expires_at = Some(exp);
        now < exp
    });
    client.secrets.push(ClientSecretHash {
        hash: TokenHash::of(new_secret).as_str().to_owned(),
        expires_at: None,
    });
    Ok(())
}

/// The grant handlers whose rules `client add` follows: the core grants, and every compiled-in
/// extension's, configured by its `[extensions.<name>]` section, or by its defaults when the
/// configuration has none (a machine client may be provisioned before the extension is on).
fn grant_handlers(config: &Config, stores: &Stores) -> Result<Registry, String> {
    let mut registry = Registry::new();
    registry
        .add_grant(Arc::new(AuthorizationCodeGrant::new(stores.clone())))
        .map_err(|e| e.to_string())?;
    registry
        .add_grant(Arc::new(RefreshTokenGrant::new(stores.clone())))
        .map_err(|e| e.to_string())?;
    let configured = config.extension_sections().map_err(|e| e.to_string())?;
    // Only the grants' rules are read here; the services are what a running server would lend,
    // over the same stores, with no local keys.
    let issuer = config.issuer(config.bind).map_err(|e| e.to_string())?;
    let mut services = mcp_auth_core::ext::ExtensionServices::in_memory(issuer);
    services.replay = stores.replay.clone();
    services.refresh_tokens = stores.refresh_tokens.clone();
    services.development = config.dev;
    services.bound_to_loopback = config.bind.ip().is_loopback();
    for factory in crate::extensions::factories() {
        let (extension, configured) = match configured.iter().find(|s| s.name() == factory.name()) {
            Some(section) => (factory.create(section).map_err(|e| e.to_string())?, true),
            // Unconfigured: its defaults, when it has defaults for every setting; otherwise
            // its grants are unknown here and refused.
            None => {
                let defaults = ExtensionSection::new(factory.name(), serde_json::json!({}));
                match factory.create(&defaults) {
                    Ok(extension) => (extension, false),
                    Err(_) => continue,
                }
            }
        };
        let installed = if configured {
            extension.install(&mut registry, &services)
        } else {
            // Installed only to read its grants' rules: what it would warn about when a server
            // starts with it (no trusted IdP, say) does not concern this command.
            tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
                extension.install(&mut registry, &services)
            })
        };
        installed.map_err(|e| e.to_string())?;
    }
    Ok(registry)
}

/// Each grant's own rules for an operator-registered client authenticating with `method`
/// ([`GrantHandler::check_client_source`], [`GrantHandler::client_authentication`]).
///
/// # Errors
/// A grant no handler of this build knows (`implicit`, a typo such as `client_credential`):
/// the message lists the supported ones.
///
/// [`GrantHandler::check_client_source`]: mcp_auth_core::ext::GrantHandler::check_client_source
/// [`GrantHandler::client_authentication`]: mcp_auth_core::ext::GrantHandler::client_authentication
fn check_grant_rules(
    handlers: &Registry,
    grants: &[GrantType],
    method: TokenEndpointAuthMethod,
) -> Result<(), String> {
    // RFC 8693 token exchange is also answered outside the grant registry: at
    // `/connect/token`, where an MCP server fetches a user's third-party credential.
    let outside = crate::engine::connect_token::TOKEN_EXCHANGE_GRANT;
    for grant in grants {
        let Some(handler) = handlers.grant(grant.as_str()) else {
            if grant.as_str() == outside {
                continue;
            }
            let mut supported = handlers.grant_types();
            if !supported.iter().any(|g| g == outside) {
                supported.push(outside.to_owned());
                supported.sort_unstable();
            }
            return Err(format!(
                "this server does not support the grant {grant}; supported: {}",
                supported.join(", ")
            ));
        };
        handler
            .check_client_source(ClientSource::Admin)
            .map_err(|refused| refused.0)?;
        if !handler.client_authentication().permits(method) {
            return Err(if method == TokenEndpointAuthMethod::None {
                format!("a public client cannot use {grant}")
            } else {
                format!("a {method} client cannot use {grant}")
            });
        }
    }
    Ok(())
}

async fn client_add(
    stores: &Stores,
    handlers: &Registry,
    args: ClientAddArgs,
) -> Result<(), String> {
    let method = auth_method_of(&args)?;
    let grants: Vec<GrantType> = if args.grants.is_empty() {
        vec![GrantType::authorization_code(), GrantType::refresh_token()]
    } else {
        args.grants.iter().map(GrantType::new).collect()
    };
    let redirect_uris = redirect_uris_of(&args, &grants)?;
    check_grant_rules(handlers, &grants, method)?;
    let jwks = jwks_of(&args, method)?;
    let resources = resources_of(&args)?;
    let scope = args
        .scope
        .as_deref()
        .map(|s| s.parse::<ScopeSet>().map_err(|e| e.0))
        .transpose()?;
    let secrets = OsSecretGenerator::new();
    let client_id: ClientId = secrets
        .identifier("mcp_", 16)
        .parse()
        .map_err(|e: mcp_auth_core::ParseError| e.0)?;
    let secret = method.uses_secret().then(|| secrets.secret("cs_", 32));
    let client = Client {
        client_id: client_id.clone(),
        client_name: Some(args.name),
        redirect_uris,
        grant_types: grants,
        token_endpoint_auth_method: method,
        token_endpoint_auth_methods: Vec::new(),
        secrets: secret
            .iter()
            .map(|s| ClientSecretHash {
                hash: s.hash().as_str().to_owned(),
                expires_at: None,
            })
            .collect(),
        jwks,
        jwks_uri: args.jwks_uri,
        scope,
        client_id_issued_at: SystemClock.now(),
        resources,
        source: ClientSource::Admin,
        dpop_bound_access_tokens: args.dpop_bound,
    };
    stores
        .clients
        .put(&client)
        .await
        .map_err(|e| e.to_string())?;
    println!("client_id: {client_id}");
    println!("token_endpoint_auth_method: {method}");
    if let Some(s) = secret {
        println!("client_secret: {}", s.expose());
        println!("(the secret is shown once; only its hash is stored)");
    }
    Ok(())
}

/// The client's authentication method: `--public`, `--auth-method`, else private_key_jwt with
/// keys, else client_secret_basic.
fn auth_method_of(args: &ClientAddArgs) -> Result<TokenEndpointAuthMethod, String> {
    Ok(if args.public {
        TokenEndpointAuthMethod::None
    } else if let Some(m) = &args.auth_method {
        m.parse().map_err(|e: mcp_auth_core::ParseError| {
            format!(
                "{}; supported: client_secret_basic, client_secret_post, private_key_jwt (or --public for none)",
                e.0
            )
        })?
    } else if args.jwks.is_some() || args.jwks_uri.is_some() {
        TokenEndpointAuthMethod::PrivateKeyJwt
    } else {
        TokenEndpointAuthMethod::ClientSecretBasic
    })
}

/// The `--redirect-uri`s, each registrable; at least one for the authorization_code grant.
fn redirect_uris_of(
    args: &ClientAddArgs,
    grants: &[GrantType],
) -> Result<Vec<RedirectUri>, String> {
    let mut redirect_uris = Vec::new();
    for raw in &args.redirect_uris {
        let uri: RedirectUri = raw.parse().map_err(|e: mcp_auth_core::ParseError| e.0)?;
        uri.check_registrable().map_err(|e| e.0)?;
        redirect_uris.push(uri);
    }
    if grants
        .iter()
        .any(|g| g.as_str() == GrantType::AUTHORIZATION_CODE)
        && redirect_uris.is_empty()
    {
        return Err("the authorization_code grant needs at least one --redirect-uri".into());
    }
    Ok(redirect_uris)
}

/// The `--jwks` file (a JWK Set) and the `--jwks-uri` check (https); private_key_jwt needs one
/// of them.
fn jwks_of(
    args: &ClientAddArgs,
    method: TokenEndpointAuthMethod,
) -> Result<Option<serde_json::Value>, String> {
    let jwks = match &args.jwks {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if !value.get("keys").is_some_and(serde_json::Value::is_array) {
                return Err(format!("{} is not a JWK Set", path.display()));
            }
            Some(value)
        }
        None => None,
    };
    if let Some(uri) = &args.jwks_uri
        && !uri.starts_with("https://")
    {
        return Err("--jwks-uri must be an https URL".into());
    }
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() && args.jwks_uri.is_none()
    {
        return Err("private_key_jwt needs --jwks or --jwks-uri".into());
    }
    Ok(jwks)
}

/// The `--resource`s the client is restricted to (`None`: unrestricted).
fn resources_of(args: &ClientAddArgs) -> Result<Option<Vec<ResourceUri>>, String> {
    Ok(if args.resources.is_empty() {
        None
    } else {
        Some(
            args.resources
                .iter()
                .map(|r| {
                    r.parse::<ResourceUri>()
                        .map_err(|e| format!("--resource {r}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    })
}

pub(super) async fn user(config_path: Option<&Path>, cmd: UserCommand) -> Result<(), String> {
    let (config, stores) = open(config_path).await?;
    match cmd {
        UserCommand::Add { username } => user_add(&stores, &username).await,
        UserCommand::Passwd { username } => user_passwd(&stores, &username).await,
        UserCommand::Remove { username } => user_remove(&config, &stores, &username).await,
        UserCommand::Link {
            username,
            upstream,
            subject,
        } => user_link(&config, &stores, &username, &upstream, &subject).await,
        UserCommand::Unlink {
            username,
            upstream,
            subject,
        } => user_unlink(&config, &stores, &username, &upstream, &subject).await,
        UserCommand::List => user_list(&config, &stores).await,
    }
}

/// `user list`: `username<TAB>sub` per user, each followed by one line per upstream identity,
/// `<TAB>upstream<TAB>upstream sub<TAB>name<TAB>email` (the `[[upstream_idps]]` name, or the
/// issuer when no configured upstream has it; `-` for what the upstream did not give).
async fn user_list(config: &Config, stores: &Stores) -> Result<(), String> {
    let identities = stores
        .users
        .list_federated()
        .await
        .map_err(|e| e.to_string())?;
    let upstreams: Vec<_> = config
        .upstream_idps
        .iter()
        .map(|u| u.clone().with_defaults())
        .collect();
    for u in stores.users.list().await.map_err(|e| e.to_string())? {
        println!("{}\t{}", u.username, u.sub);
        for f in identities.iter().filter(|f| f.sub == u.sub) {
            let upstream = upstreams
                .iter()
                .find(|idp| idp.issuer == f.upstream_issuer)
                .map_or(f.upstream_issuer.as_str(), |idp| idp.name.as_str());
            println!(
                "\t{upstream}\t{}\t{}\t{}",
                f.upstream_sub,
                f.display_name.as_deref().unwrap_or("-"),
                f.email.as_deref().unwrap_or("-"),
            );
        }
    }
    Ok(())
}

/// `user add`: a user with a password read from the terminal (or standard input); an existing
/// user of that name gets the new password.
async fn user_add(stores: &Stores, username: &str) -> Result<(), String> {
    let username = mcp_auth_core::normalize_username(username).map_err(|e| e.to_string())?;
    let password = read_password()?;
    let existing = stores
        .users
        .get_by_username(&username)
        .await
        .map_err(|e| e.to_string())?;
    let sub = existing
        .map(|u| u.sub)
        .unwrap_or_else(|| OsSecretGenerator::new().identifier("usr_", 12));
    stores
        .users
        .put(&User {
            sub: sub.clone(),
            username: username.clone(),
            password_hash: hash_password(&password).map_err(|e| e.to_string())?,
        })
        .await
        .map_err(|e| e.to_string())?;
    println!("user {username} saved (sub {sub})");
    Ok(())
}

/// `user passwd`: a new password; every session of the user ends.
async fn user_passwd(stores: &Stores, username: &str) -> Result<(), String> {
    let username = lookup_name(username);
    let user = stores
        .users
        .get_by_username(&username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {username}"))?;
    if user.password_hash.is_empty() {
        return Err(format!(
            "{username} signs in through an identity provider and has no password"
        ));
    }
    let password = read_password()?;
    let sub = user.sub.clone();
    stores
        .users
        .put(&User {
            password_hash: hash_password(&password).map_err(|e| e.to_string())?,
            ..user
        })
        .await
        .map_err(|e| e.to_string())?;
    stores
        .users
        .end_sessions(&sub)
        .await
        .map_err(|e| e.to_string())?;
    println!("password of {username} changed; every session of {username} ended");
    Ok(())
}

/// The issuer of the `[[upstream_idps]]` named `upstream`, for `user link` and `user unlink`.
///
/// # Errors
/// No upstream has that name, or `subject` is empty.
fn upstream_issuer(config: &Config, upstream: &str, subject: &str) -> Result<String, String> {
    let idp = config
        .upstream_idps
        .iter()
        .find(|u| u.name == upstream)
        .ok_or_else(|| format!("no [[upstream_idps]] named {upstream}"))?
        .clone()
        .with_defaults();
    if subject.is_empty() {
        return Err("--subject must not be empty".into());
    }
    Ok(idp.issuer)
}

/// `user link`: the upstream identity (`upstream`'s issuer, `subject`) becomes one more of
/// `username`'s; linking one the user already has changes nothing.
async fn user_link(
    config: &Config,
    stores: &Stores,
    username: &str,
    upstream: &str,
    subject: &str,
) -> Result<(), String> {
    let username = lookup_name(username);
    let issuer = upstream_issuer(config, upstream, subject)?;
    match stores
        .users
        .link_federated(&username, &issuer, subject)
        .await
    {
        Ok(Some(user)) => {
            println!(
                "linked {username} (sub {}) to {upstream} ({issuer}) subject {subject}",
                user.sub
            );
            Ok(())
        }
        Ok(None) => Err(format!("no user {username}")),
        Err(mcp_auth_core::StoreError::Conflict(_)) => Err(format!(
            "another user already has {upstream} subject {subject} (see `user list`; \
             `user unlink` it or remove that user first)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `user unlink`: the upstream identity (`upstream`'s issuer, `subject`) is no longer
/// `username`'s; the next sign-in with it creates a new user.
async fn user_unlink(
    config: &Config,
    stores: &Stores,
    username: &str,
    upstream: &str,
    subject: &str,
) -> Result<(), String> {
    let username = lookup_name(username);
    let issuer = upstream_issuer(config, upstream, subject)?;
    let removed = stores
        .users
        .unlink_federated(&username, &issuer, subject)
        .await
        .map_err(|e| e.to_string())?;
    if !removed {
        return Err(format!(
            "{username} has no {upstream} subject {subject} (see `user list`)"
        ));
    }
    println!("unlinked {upstream} ({issuer}) subject {subject} from {username}");
    Ok(())
}

/// `user remove`: the user, their sessions, refresh tokens, consents and connections.
async fn user_remove(config: &Config, stores: &Stores, username: &str) -> Result<(), String> {
    let username = lookup_name(username);
    // Deleting the record ends every session at once: a session is valid only while
    // its user exists (`UserStore::session_generation`), checked on every request.
    let user = stores
        .users
        .delete(&username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {username}"))?;
    let tokens = revoke_user_tokens(stores, &user.sub, None).await?;
    let consents = stores
        .consent
        .revoke_user(&user.sub, None)
        .await
        .map_err(|e| e.to_string())?;
    let entries: Vec<_> = stores
        .vault
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| e.sub == user.sub)
        .collect();
    let connections = revoke_connections(config, stores, entries).await?;
    println!(
        "removed {username}; ended their sessions; revoked {tokens} refresh tokens, \
         {consents} consents and {connections} third-party connections"
    );
    Ok(())
}

pub(super) async fn consent(config_path: Option<&Path>, cmd: ConsentCommand) -> Result<(), String> {
    let (_, stores) = open(config_path).await?;
    match cmd {
        ConsentCommand::List(args) => {
            let sub = user_sub(&stores, &args.user).await?;
            let consents: Vec<_> = stores
                .consent
                .list_for_user(&sub)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|c| {
                    args.client
                        .as_deref()
                        .is_none_or(|want| c.client_id == want)
                })
                .collect();
            if args.json {
                let all: Vec<_> = consents
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "client_id": c.client_id,
                            "resource": c.resource.as_str(),
                            "scope": c.scopes.to_string(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(all));
                return Ok(());
            }
            if consents.is_empty() {
                println!("no consents");
            }
            for c in consents {
                println!("{}\t{}\t{}", c.client_id, c.resource, c.scopes);
            }
            Ok(())
        }
        ConsentCommand::Revoke(args) => {
            let sub = user_sub(&stores, &args.user).await?;
            let client = args.client.as_deref();
            let forgotten = stores
                .consent
                .revoke_user(&sub, client)
                .await
                .map_err(|e| e.to_string())?;
            let tokens = revoke_user_tokens(&stores, &sub, client).await?;
            println!(
                "revoked {forgotten} consents and {tokens} refresh tokens of {}",
                args.user
            );
            Ok(())
        }
    }
}

/// `connections list|revoke`: the vault's entries of every user (or one subject); revoke one
/// (RFC 7009 at the third party when the configuration has the connection and the vault key,
/// best effort; then the entry is deleted).
pub(super) async fn connections(
    config_path: Option<&Path>,
    cmd: ConnectionsCommand,
) -> Result<(), String> {
    let (config, stores) = open(config_path).await?;
    match cmd {
        ConnectionsCommand::List { subject } => {
            let entries = stores.vault.list().await.map_err(|e| e.to_string())?;
            let entries: Vec<_> = entries
                .into_iter()
                .filter(|e| subject.as_deref().is_none_or(|s| e.sub == s))
                .collect();
            if entries.is_empty() {
                println!("no connections");
            }
            for e in entries {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.iss,
                    e.sub,
                    e.connection,
                    e.key_id,
                    crate::web::when::rfc3339(e.updated_at)
                );
            }
            Ok(())
        }
        ConnectionsCommand::Revoke {
            subject,
            connection,
        } => {
            let entries = stores.vault.list().await.map_err(|e| e.to_string())?;
            let slots: Vec<_> = entries
                .into_iter()
                .filter(|e| e.sub == subject && e.connection == connection)
                .collect();
            if slots.is_empty() {
                return Err(format!("{subject} has no connection {connection}"));
            }
            revoke_connections(&config, &stores, slots).await?;
            Ok(())
        }
    }
}

/// Revoke each of `entries` at its third party (RFC 7009, best effort, when the configuration
/// has the connection and the vault key) and delete it from the vault; prints each one removed
/// and returns how many were.
async fn revoke_connections(
    config: &Config,
    stores: &Stores,
    entries: Vec<mcp_auth_core::store::SealedEntry>,
) -> Result<usize, String> {
    if entries.is_empty() {
        return Ok(0);
    }
    let issuer = config.issuer(config.bind).map_err(|e| e.to_string())?;
    let service =
        crate::connections::Connections::from_config(config, &issuer, stores.vault.clone())
            .map_err(|e| e.to_string())?;
    if let Some(c) = &service {
        let trail = crate::audit::AuditTrail::new(stores.audit.clone(), None);
        c.lend_audit(Arc::new(trail), Arc::new(SystemClock));
    }
    let mut count = 0;
    for e in entries {
        let removed = match &service {
            Some(c) => c
                .remove(&e.iss, &e.sub, &e.connection)
                .await
                .map_err(|e| e.to_string())?,
            None => {
                let removed = stores
                    .vault
                    .delete(&e.iss, &e.sub, &e.connection)
                    .await
                    .map_err(|e| e.to_string())?;
                if removed {
                    let event = mcp_auth_core::ext::AuditEvent::ConnectionRemoved {
                        sub: e.sub.clone(),
                        connection: e.connection.clone(),
                        reason: "removed".to_owned(),
                    };
                    super::audit::record(stores, event).await;
                }
                removed
            }
        };
        if removed {
            count += 1;
            println!("revoked {} of {} ({})", e.connection, e.sub, e.iss);
        }
    }
    Ok(count)
}

/// The stored form of a login name given to a command that looks a user up: NFKC, as `user add`
/// stores it; a name that cannot be normalized is looked up as given (and not found).
fn lookup_name(raw: &str) -> String {
    mcp_auth_core::normalize_username(raw).unwrap_or_else(|_| raw.to_owned())
}

/// The subject id of the local user `username`.
pub(super) async fn user_sub(stores: &Stores, username: &str) -> Result<String, String> {
    Ok(stores
        .users
        .get_by_username(&lookup_name(username))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {username}"))?
        .sub)
}

/// Record a successful admin `command` (and what it was given) in the audit chain. Best
/// effort: the command already succeeded; a database that cannot be opened is reported on
/// standard error.
pub(super) async fn record_admin_command(
    config_path: Option<&Path>,
    command: &str,
    detail: String,
) {
    match open(config_path).await {
        Ok((_, stores)) => {
            let event = mcp_auth_core::ext::AuditEvent::AdminCommand {
                command: command.to_owned(),
                detail,
                sub: None,
                client_id: None,
            };
            super::audit::record(&stores, event).await;
        }
        Err(e) => eprintln!("warning: the audit trail did not record `{command}`: {e}"),
    }
}

pub(super) async fn keys(config_path: Option<&Path>, cmd: KeysCommand) -> Result<(), String> {
    let (_, stores) = open(config_path).await?;
    let now = SystemClock.now();
    match cmd {
        KeysCommand::Rotate => {
            let key = SigningKey::generate(now).map_err(|e| e.to_string())?;
            stores
                .keys
                .rotate(&key, now)
                .await
                .map_err(|e| e.to_string())?;
            super::audit::record(
                &stores,
                mcp_auth_core::ext::AuditEvent::KeyRotated {
                    kid: key.kid.clone(),
                },
            )
            .await;
            println!(
                "new signing key {} ({}); a running server signs with it within a minute",
                key.kid, key.alg
            );
            Ok(())
        }
        KeysCommand::List => {
            for k in stores.keys.list().await.map_err(|e| e.to_string())? {
                let state = match k.retired_at {
                    None => "current".to_owned(),
                    Some(t) => format!("retired at {t}"),
                };
                println!("{}\t{}\tcreated {}\t{state}", k.kid, k.alg, k.created_at);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn machine() -> Client {
        Client {
            client_id: "svc-reporter".parse().unwrap(),
            client_name: Some("Reporter".into()),
            redirect_uris: vec![],
            grant_types: vec![GrantType::new(GrantType::CLIENT_CREDENTIALS)],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            token_endpoint_auth_methods: Vec::new(),
            secrets: vec![ClientSecretHash {
                hash: TokenHash::of("old-secret").as_str().to_owned(),
                expires_at: None,
            }],
            jwks: None,
            jwks_uri: None,
            scope: Some("mcp:basic reports:read".parse().unwrap()),
            resources: Some(vec!["https://mcp.example.com/mcp".parse().unwrap()]),
            client_id_issued_at: NOW,
            source: ClientSource::Admin,
            dpop_bound_access_tokens: false,
        }
    }

    /// Issue #9: `client add` follows each grant's own rules.
    #[cfg(feature = "ext-client-credentials")]
    #[test]
    fn client_add_rules_come_from_the_grant_handlers() {
        let stores = Stores::in_memory();
        let handlers = grant_handlers(&Config::default(), &stores).unwrap();
        let cc = [GrantType::new(GrantType::CLIENT_CREDENTIALS)];
        assert_eq!(
            check_grant_rules(&handlers, &cc, TokenEndpointAuthMethod::None),
            Err("a public client cannot use client_credentials".to_owned())
        );
        assert_eq!(
            check_grant_rules(&handlers, &cc, TokenEndpointAuthMethod::PrivateKeyJwt),
            Ok(())
        );
        let code = [GrantType::authorization_code()];
        assert_eq!(
            check_grant_rules(&handlers, &code, TokenEndpointAuthMethod::None),
            Ok(())
        );
    }

    #[test]
    fn rotated_secret_overlaps_then_old_one_expires() {
        let mut c = machine();
        rotate_secret(&mut c, "new-secret", NOW, 3600).unwrap();
        assert_eq!(c.secrets.len(), 2);
        let works = |s: &str, at: i64| c.secrets.iter().any(|h| h.verify(s, at));
        assert!(works("old-secret", NOW + 3599));
        assert!(!works("old-secret", NOW + 3600));
        assert!(works("new-secret", NOW + 100_000));
    }

    #[test]
    fn rotation_drops_expired_secrets() {
        let mut c = machine();
        rotate_secret(&mut c, "second", NOW, 60).unwrap();
        rotate_secret(&mut c, "third", NOW + 61, 60).unwrap();
        assert_eq!(c.secrets.len(), 2, "the first secret had expired");
        assert!(c.secrets.iter().any(|h| h.verify("second", NOW + 62)));
        assert!(c.secrets.iter().any(|h| h.verify("third", NOW + 62)));
    }

    #[test]
    fn rotation_with_zero_overlap_keeps_only_the_new_secret() {
        let mut c = machine();
        rotate_secret(&mut c, "new-secret", NOW, 0).unwrap();
        assert_eq!(c.secrets.len(), 1);
        assert!(c.secrets[0].verify("new-secret", NOW));
    }

    #[test]
    fn rotation_never_extends_an_earlier_expiry() {
        let mut c = machine();
        c.secrets[0].expires_at = Some(NOW + 10);
        rotate_secret(&mut c, "new-secret", NOW, 3600).unwrap();
        assert_eq!(c.secrets[0].expires_at, Some(NOW + 10));
    }

    #[test]
    fn key_clients_have_no_secret_to_rotate() {
        let mut c = machine();
        c.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        assert!(rotate_secret(&mut c, "x", NOW, 60).is_err());
    }

    #[test]
    fn client_list_line_never_shows_a_secret() {
        let c = machine();
        let line = client_line(&c, NOW);
        assert_eq!(
            line,
            "svc-reporter\tReporter\tclient_secret_basic\tclient_credentials\t-\tscope=mcp:basic,reports:read\tresources=https://mcp.example.com/mcp\tsecrets=1"
        );
        assert!(!line.contains(&c.secrets[0].hash));
    }
}
