//! `audit verify` and `audit list` (issue 25 §2), and the record of admin commands.

use std::path::Path;

use clap::{Args, Subcommand};
use mcp_auth_core::ext::{AuditEvent, AuditSink};
use mcp_auth_core::store::{AuditFilter, AuditRow, Stores};
use mcp_auth_core::{Clock, SystemClock};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{AuditTrail, verify};
use crate::web::when::rfc3339;

use super::admin::{open, user_sub};

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-compute the hash chain of the audit trail. Prints how many events were checked, or
    /// names the first broken link and exits with status 1. Changes nothing.
    Verify,
    /// List audit events, oldest first: one tab-separated line per event (seq, time as RFC 3339,
    /// kind, user, client, the event as JSON), or with --json a JSON array. Changes nothing.
    List(AuditListArgs),
}

/// Options of `audit list`.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only events of this user (login name).
    #[arg(long)]
    pub user: Option<String>,
    /// Only events of this client_id.
    #[arg(long)]
    pub client: Option<String>,
    /// Only events at or after this time: RFC 3339 (`2027-01-15T08:00:00Z`) or seconds since
    /// the epoch.
    #[arg(long)]
    pub since: Option<String>,
    /// Print a JSON array of `{seq, at, kind, sub, client_id, event, hash}`.
    #[arg(long)]
    pub json: bool,
}

/// Run an `audit` subcommand on the configured database.
pub(super) async fn audit(config_path: Option<&Path>, cmd: AuditCommand) -> Result<(), String> {
    let (_, stores) = open(config_path).await?;
    match cmd {
        AuditCommand::Verify => {
            let rows = stores.audit.chain().await.map_err(|e| e.to_string())?;
            let checked = verify(&rows).map_err(|e| format!("audit chain broken: {e}"))?;
            println!("audit chain intact: {checked} events checked");
            Ok(())
        }
        AuditCommand::List(args) => list(&stores, args).await,
    }
}

async fn list(stores: &Stores, args: AuditListArgs) -> Result<(), String> {
    let sub = match &args.user {
        Some(name) => Some(user_sub(stores, name).await?),
        None => None,
    };
    let since = args.since.as_deref().map(parse_time).transpose()?;
    let filter = AuditFilter {
        sub,
        client_id: args.client.clone(),
        since,
    };
    let rows = stores
        .audit
        .list(&filter)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        let all: Vec<_> = rows.iter().map(row_json).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no events");
    }
    for r in &rows {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            r.seq,
            rfc3339(r.at),
            r.kind,
            r.sub.as_deref().unwrap_or("-"),
            r.client_id.as_deref().unwrap_or("-"),
            r.data
        );
    }
    Ok(())
}

/// `--since`: RFC 3339, or seconds since the epoch.
fn parse_time(value: &str) -> Result<i64, String> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| format!("--since {value}: expected RFC 3339 or seconds since the epoch"))
}

fn row_json(r: &AuditRow) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "at": r.at,
        "kind": r.kind,
        "sub": r.sub,
        "client_id": r.client_id,
        "event": serde_json::from_str::<serde_json::Value>(&r.data).unwrap_or_default(),
        "hash": r.hash,
    })
}

/// Record `event` of an admin command in the audit chain of `stores` (now).
pub(super) async fn record(stores: &Stores, event: AuditEvent) {
    AuditTrail::new(stores.audit.clone(), None)
        .record(SystemClock.now(), &event)
        .await;
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn since_reads_rfc3339_and_seconds() {
        assert_eq!(parse_time("2027-01-15T08:00:00Z"), Ok(1_800_000_000));
        assert_eq!(parse_time("1800000000"), Ok(1_800_000_000));
        assert!(parse_time("yesterday").is_err());
    }
}
