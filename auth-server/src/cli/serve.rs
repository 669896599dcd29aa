//! `auth-server serve`.

use std::path::Path;
use std::time::Duration;

use mcp_auth_core::store::{Stores, User};
use mcp_auth_core::types::is_loopback_host;

use crate::config::Config;
use crate::server::AuthorizationServer;
use crate::web::password::hash_password;
use crate::wiring::{BuiltServer, ServerPlan};

use super::ServeArgs;

/// Load configuration, open the database, bind, print where to go next, and serve until
/// Ctrl-C or SIGTERM; then stop accepting, let the requests in flight finish for at most
/// `shutdown_grace_period` seconds, and return.
pub(super) async fn serve(config_path: Option<&Path>, args: ServeArgs) -> Result<(), String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    if let Some(warning) = config_path.and_then(super::secret_file::warning) {
        tracing::warn!("{warning}");
    }
    args.override_config(&mut config);
    refuse_dev_off_loopback(&config, args.dev)?;
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
    let plan =
        ServerPlan::check(&config, issuer, bound.ip().is_loopback()).map_err(|e| e.to_string())?;
    let stores = crate::storage::open(&config.database_config())
        .await
        .map_err(|e| e.to_string())?;
    if config.dev {
        tracing::warn!(
            "DEVELOPMENT PROFILE is on: anyone reaching this server is signed in as the development user"
        );
        let users = stores.users.list().await.map_err(|e| e.to_string())?;
        check_dev_database(&users, args.dev_allow_existing_db)?;
        ensure_dev_user(&stores).await?;
    }
    let BuiltServer {
        server,
        app,
        background,
    } = plan
        .build(&config, stores)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(bind) = config.metrics.bind {
        let handle = crate::metrics::install(crate::metrics::MetricsOptions {
            client_id_labels: config.metrics.client_id_labels,
        })
        .map_err(|e| e.to_string())?;
        // The main port's timeouts, and a cap on open sockets so that idle scrapers cannot use
        // up the process's file descriptors (issue 19 §3).
        let mut limits = server.settings().http.listener_limits();
        limits.max_connections = Some(config.metrics.max_connections);
        let metrics_bound = crate::metrics::serve(bind, handle, limits)
            .await
            .map_err(|e| e.to_string())?;
        println!("metrics:  http://{metrics_bound}/metrics");
    }
    background.spawn();
    let stop = shutdown_signal();
    print_banner(&server, bound, config.dev);
    let grace = Duration::from_secs(config.shutdown_grace_period);
    listen_until_stopped(listener, app, server.settings().http, grace, stop).await
}

/// `dev = true` (or `--dev`, when `flag`) is refused on a bind address that is not loopback.
fn refuse_dev_off_loopback(config: &Config, flag: bool) -> Result<(), String> {
    if (config.dev || flag) && !config.bind.ip().is_loopback() {
        return Err(if flag {
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
    Ok(())
}

/// Serve `app` on `listener` until `stop` completes, then stop accepting and let the requests
/// in flight finish for at most `grace`.
async fn listen_until_stopped(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    http_limits: crate::limits::HttpLimits,
    grace: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // HTTP/1.1 with the header and body read timeouts and connection info (issue #8 item 6).
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
                password_hash: hash_password(password.expose()).map_err(|e| e.to_string())?,
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
    for step in crate::extensions::next_steps(server.registry()) {
        println!("  {step}");
    }
    println!("  point your MCP server's protected resource metadata at the issuer above");
    if !host_ok {
        println!("  (terminate TLS in front of this server: the issuer is https)");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
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
