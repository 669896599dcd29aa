//! `grants list` and `grants revoke`: what a user authorized, for operators (issue 25 §1) — the
//! same data and the same removal as the account page ([`crate::engine::account`]).

use std::path::Path;

use clap::{Args, Subcommand};
use mcp_auth_core::{Clock, SystemClock};

use crate::engine::account::{AuthorizedApp, authorized_apps, remove_access};
use crate::web::when::rfc3339;

use super::admin::{open, user_sub};

/// `grants` subcommands.
#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List the apps a user authorized: one tab-separated line per client and resource
    /// (client_id, name, verified domain or "not verified", resource, scopes, first use, last
    /// use as RFC 3339 or "never", "refresh" when the user holds a usable refresh token of it
    /// or "-"), or with --json a JSON array. Changes nothing.
    List(GrantsListArgs),
    /// Remove a client's access for a user, as the account page's "Remove access" does: forget
    /// the consents, revoke the refresh tokens (and deny the access tokens issued with them),
    /// and cut off every other access token and authorization code the user's client holds
    /// (introspection answers active:false at once).
    Revoke(GrantsRevokeArgs),
}

/// Options of `grants list`.
#[derive(Debug, Args)]
pub struct GrantsListArgs {
    /// The user's login name.
    #[arg(long)]
    pub user: String,
    /// Print a JSON array of `{client_id, client_name, verified_domain, resource, scope,
    /// first_used, last_used, refresh_token}` (times as seconds since the epoch or null).
    #[arg(long)]
    pub json: bool,
}

/// Options of `grants revoke`.
#[derive(Debug, Args)]
pub struct GrantsRevokeArgs {
    /// The user's login name.
    #[arg(long)]
    pub user: String,
    /// The client_id whose access is removed.
    #[arg(long)]
    pub client: String,
}

/// Run a `grants` subcommand on the configured database.
pub(super) async fn grants(config_path: Option<&Path>, cmd: GrantsCommand) -> Result<(), String> {
    let (_, stores) = open(config_path).await?;
    let now = SystemClock.now();
    match cmd {
        GrantsCommand::List(args) => {
            let sub = user_sub(&stores, &args.user).await?;
            let apps = authorized_apps(&stores, &sub, now)
                .await
                .map_err(|e| e.to_string())?;
            if args.json {
                let all: Vec<_> = apps.iter().map(app_json).collect();
                println!("{}", serde_json::Value::Array(all));
                return Ok(());
            }
            if apps.is_empty() {
                println!("no grants");
            }
            for app in &apps {
                println!("{}", app_line(app));
            }
            Ok(())
        }
        GrantsCommand::Revoke(args) => {
            let sub = user_sub(&stores, &args.user).await?;
            let removed = remove_access(&stores, &sub, &args.client, now)
                .await
                .map_err(|e| e.to_string())?;
            super::audit::record(&stores, removed.event(&sub, &args.client, "admin")).await;
            println!(
                "removed the access of {} for {}: {} consents and {} refresh tokens revoked; \
                 its access tokens are inactive at introspection",
                args.client, args.user, removed.consents, removed.refresh_tokens
            );
            Ok(())
        }
    }
}

fn app_json(app: &AuthorizedApp) -> serde_json::Value {
    serde_json::json!({
        "client_id": app.client_id,
        "client_name": app.client_name,
        "verified_domain": app.verified_domain,
        "resource": app.resource.as_str(),
        "scope": app.scopes.to_string(),
        "first_used": app.first_used,
        "last_used": app.last_used,
        "refresh_token": app.refresh_token,
    })
}

fn app_line(app: &AuthorizedApp) -> String {
    let when = |t: Option<i64>| t.map_or_else(|| "never".to_owned(), rfc3339);
    [
        app.client_id.clone(),
        app.client_name.clone(),
        app.verified_domain
            .clone()
            .unwrap_or_else(|| "not verified".to_owned()),
        app.resource.as_str().to_owned(),
        app.scopes.to_string(),
        when(app.first_used),
        when(app.last_used),
        if app.refresh_token { "refresh" } else { "-" }.to_owned(),
    ]
    .join("\t")
}
