//! `auth-server serve`.

use std::path::Path;
use std::time::Duration;

use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::types::is_loopback_host;

use crate::config::Config;
use crate::http::HttpOptions;
use crate::server::AuthorizationServer;
use crate::web::password::hash_password;

use super::ServeArgs;

/// Load configuration, open the database, bind, print where to go next, and serve until
/// Ctrl-C or SIGTERM; then stop accepting, let the requests in flight finish for at most
/// `shutdown_grace_period` seconds, and return.
pub(super) async fn serve(config_path: Option<&Path>, args: ServeArgs) -> Result<(), String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    if let Some(warning) = config_path.and_then(super::secret_file::warning) {
        tracing::warn!("{warning}");
    }
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(issuer) = args.issuer {
        config.issuer = Some(issuer);
    }
    config.client_credentials |= args.client_credentials;
    if (config.dev || args.dev) && !config.bind.ip().is_loopback() {
        return Err(if args.dev {
            format!(
                "--dev is refused on a non-loopback bind address ({})",
                config.bind
            )
        } else {
            format!(
                "dev = true{} is refused on a non-loopback bind address ({})",
                config.origins.of("dev"),
                config.bind
            )
        });
    }
    config.dev |= args.dev;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = config.issuer(bound).map_err(|e| e.to_string())?;
    if issuer.is_insecure_loopback() && !bound.ip().is_loopback() {
        return Err(format!(
            "plain http is only allowed on loopback; {bound} is not loopback, so configure an https issuer (TLS terminated by a proxy)"
        ));
    }
    // Every check of the configuration comes before the database is opened or created, so a
    // mistake leaves nothing behind.
    let settings = config.settings(issuer.clone()).map_err(|e| e.to_string())?;
    let options = http_options(&config)?;
    crate::http::check_templates(&settings)?;
    if let Some(color) = &settings.ui.primary_color {
        let ratio = color.contrast_with_white();
        if ratio < crate::web::ui::MIN_BUTTON_CONTRAST {
            tracing::warn!(
                primary_color = color.as_str(),
                contrast = format!("{ratio:.2}:1"),
                "ui.primary_color is too light for the white text of buttons (WCAG AA asks for 4.5:1); pick a darker colour"
            );
        }
    }
    let extensions = crate::extensions::from_sections(
        &crate::extensions::factories(),
        &config.extension_sections(),
    )?;
    let clock: std::sync::Arc<dyn mcp_auth_core::Clock> =
        std::sync::Arc::new(mcp_auth_core::SystemClock);
    crate::cimd::from_config_with_cache(
        &config.cimd,
        bound.ip().is_loopback(),
        clock.clone(),
        None,
    )?;
    crate::storage::check_shared_configuration(&config)?;
    let stores = crate::storage::open(&config.database_config()).await?;
    if config.dev {
        tracing::warn!(
            "DEVELOPMENT PROFILE is on: anyone reaching this server is signed in as the development user"
        );
        let users = stores.users.list().await.map_err(|e| e.to_string())?;
        check_dev_database(&users, args.dev_allow_existing_db)?;
        ensure_dev_user(&stores).await?;
    }
    let mut builder = AuthorizationServer::builder(settings, stores.clone());
    // PostgreSQL: rate-limit counters and the CIMD cache shared by every node.
    let shared_pool = crate::storage::shared_pool(&config).await?;
    if let Some(pool) = &shared_pool {
        builder = builder.shared_counters(crate::storage::postgres::bounded_counters(pool));
    }
    let cimd_cache = shared_pool
        .map(|pool| std::sync::Arc::new(crate::storage::postgres::PgCimdCache::new(pool)));
    let connections =
        crate::connections::Connections::from_config(&config, &issuer, stores.vault.clone())
            .map_err(|e| e.to_string())?
            .map(std::sync::Arc::new);
    if let Some(c) = &connections {
        builder = builder.connections(c.clone());
    }
    if let Some(upstreams) = crate::upstream::Upstreams::from_config(&config, clock.clone())? {
        builder = builder.upstreams(upstreams);
    }
    if let Some(cimd) = crate::cimd::from_config_with_cache(
        &config.cimd,
        bound.ip().is_loopback(),
        clock.clone(),
        cimd_cache
            .clone()
            .map(crate::storage::postgres::bounded_cimd_cache),
    )? {
        let jwks = crate::client_auth::ClientJwksSource::with_http_client(cimd.http_client, clock);
        builder = builder
            .extension(cimd.extension)
            .client_key_source(std::sync::Arc::new(jwks));
    }
    for extension in extensions {
        builder = builder.extension(extension);
    }
    let server = builder.build().await.map_err(|e| e.to_string())?;
    let app = crate::http::router(server.clone(), options)?;
    if let Some(bind) = config.metrics.bind {
        let handle = crate::metrics::install(crate::metrics::MetricsOptions {
            client_id_labels: config.metrics.client_id_labels,
        })?;
        // The main port's timeouts, and a cap on connections so that idle scrapers cannot use
        // up the process's file descriptors (issue 19 §3).
        let mut limits = server.settings().http.listener_limits();
        limits.max_connections = Some(config.metrics.max_connections);
        let metrics_bound = crate::metrics::serve(bind, handle, limits).await?;
        println!("metrics:  http://{metrics_bound}/metrics");
    }
    if let Some(c) = connections {
        // Discover the third parties' endpoints now, so the first connect page is quick; a
        // failure is retried on first use.
        tokio::spawn(async move { c.warm_up().await });
    }
    spawn_purge(server.clone(), cimd_cache);
    spawn_key_reload(
        server.clone(),
        Duration::from_secs(config.key_reload_interval.max(1)),
    );
    let stop = shutdown_signal();
    print_banner(&server, bound, config.dev);
    // HTTP/1.1 with the header and body read timeouts and connection info (issue #8 item 6).
    let http_limits = server.settings().http;
    let grace = Duration::from_secs(config.shutdown_grace_period);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        stop.await;
        let _ = stopping_tx.send(());
    };
    let serving = crate::http::serve(listener, app, http_limits, signal);
    let grace_over = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = serving => {
            tracing::info!("stopped");
            result.map_err(|e| e.to_string())
        }
        () = grace_over => {
            tracing::warn!(
                grace_period_secs = grace.as_secs(),
                "requests still in flight at the end of the shutdown grace period; exiting"
            );
            Ok(())
        }
    }
}

/// The development profile signs every visitor in without a password, so it refuses a database
/// that holds real users (anyone but the development user) unless the operator says
/// `--dev-allow-existing-db` (issue #8 item 6).
fn check_dev_database(users: &[User], allow_existing: bool) -> Result<(), String> {
    let real = users
        .iter()
        .filter(|u| u.username != crate::DEV_USERNAME)
        .count();
    if real > 0 && !allow_existing {
        return Err(format!(
            "--dev refuses a database with {real} real user(s): the development profile signs anyone in without a password; use another database, or pass --dev-allow-existing-db"
        ));
    }
    Ok(())
}

async fn ensure_dev_user(stores: &Stores) -> Result<(), String> {
    let users = &stores.users;
    if users
        .get_by_username(crate::DEV_USERNAME)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        // Nobody signs in with this password: the development profile signs the user in.
        let password = mcp_auth_core::SecretGenerator::secret(
            &mcp_auth_core::secret::OsSecretGenerator::new(),
            "",
            24,
        );
        users
            .put(&User {
                sub: "dev-user".into(),
                username: crate::DEV_USERNAME.into(),
                password_hash: hash_password(password.expose())?,
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn print_banner(server: &AuthorizationServer, bound: std::net::SocketAddr, dev: bool) {
    let issuer = &server.settings().issuer;
    let host_ok = issuer.url().host_str().is_some_and(is_loopback_host);
    println!("mcp-auth authorization server listening on {bound}");
    println!("issuer:   {issuer}");
    println!("metadata: {}{}", issuer.origin(), issuer.metadata_path());
    for r in server.settings().resources.all() {
        println!("resource: {} (scopes: {})", r.resource, r.scopes_supported);
    }
    if dev {
        println!(
            "DEVELOPMENT PROFILE: sign-in and consent are automatic. Never expose this server."
        );
    }
    println!();
    println!("next steps:");
    if !dev {
        // The development profile signs everyone in as its own user: no user to create.
        println!("  create a user:     echo 'a-long-password' | auth-server user add alice");
    }
    println!(
        "  register a client: auth-server client add --name 'My app' --redirect-uri http://127.0.0.1:3000/callback --public"
    );
    if server
        .registry()
        .grant(mcp_auth_core::GrantType::CLIENT_CREDENTIALS)
        .is_some()
    {
        println!(
            "  register a machine client: auth-server client add --name 'Reporter' --grant client_credentials --scope 'mcp:basic' --resource <resource>"
        );
    }
    println!("  point your MCP server's protected resource metadata at the issuer above");
    if !host_ok {
        println!("  (terminate TLS in front of this server: the issuer is https)");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Every `interval` (`key_reload_interval`, default a minute), pick up signing keys rotated by
/// `auth-server keys rotate` (or another node) and drop retired keys whose tokens have all
/// expired from the JWKS.
fn spawn_key_reload(server: AuthorizationServer, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = server.reload_signing_keys().await {
                tracing::warn!(error = %e, "reloading the signing keys failed; keeping the current ones");
            }
        }
    });
}

/// Every ten minutes, drop expired codes, refresh tokens, replay-cache entries and denials,
/// through the store traits (whatever the backend).
fn spawn_purge(
    server: AuthorizationServer,
    cimd_cache: Option<std::sync::Arc<crate::storage::postgres::PgCimdCache>>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = server.clock().now();
            let stores = server.stores();
            if let Err(e) = stores.codes.purge(now).await {
                tracing::warn!(error = %e, "purging authorization codes failed");
            }
            if let Err(e) = stores.refresh_tokens.purge(now).await {
                tracing::warn!(error = %e, "purging refresh tokens failed");
            }
            if let Err(e) = stores.replay.purge(now).await {
                tracing::warn!(error = %e, "purging the replay cache failed");
            }
            if let Err(e) = stores.denylist.purge(now).await {
                tracing::warn!(error = %e, "purging the access token denylist failed");
            }
            if let Err(e) = stores.elicitations.purge_expired(now).await {
                tracing::warn!(error = %e, "purging expired elicitations failed");
            }
            if let Some(counters) = server.shared_counters()
                && let Err(e) = counters.purge(now).await
            {
                tracing::warn!(error = %e, "purging the shared rate-limit counters failed");
            }
            if let Some(cache) = &cimd_cache
                && let Err(e) = cache.purge(now).await
            {
                tracing::warn!(error = %e, "purging the shared metadata document cache failed");
            }
        }
    });
}

/// A future that completes on SIGTERM or SIGINT (Ctrl-C). The handlers are registered when this
/// is called, not when the future is first polled, so a signal that arrives right after the
/// banner is printed is never lost (the default action would kill the process instead of a
/// graceful stop).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let registered = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
    };
    async move {
        #[cfg(unix)]
        match registered {
            Ok((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: no new connections; finishing the requests in flight");
    }
}

/// The HTTP options of `config`: its `session_secret` (at least 32 characters), or a random one.
fn http_options(config: &Config) -> Result<HttpOptions, String> {
    match &config.session_secret {
        Some(s) if s.expose().len() >= 32 => Ok(HttpOptions {
            session_secret: s.expose().as_bytes().to_vec(),
        }),
        Some(_) => Err("session_secret must be at least 32 characters".into()),
        None => Ok(HttpOptions::random()),
    }
}
