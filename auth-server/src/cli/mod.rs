//! The `auth-server` command line: `serve` (the default) and the admin commands.

mod admin;
mod audit;
mod grants;
mod secret_file;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// mcp-auth: an OAuth 2.1 authorization server for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "auth-server", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables `MCP_AUTH_*` override it.
    #[arg(long, global = true, env = "MCP_AUTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the authorization server.
    Serve(ServeArgs),
    /// Manage registered clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage local users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and revoke the consents users gave to clients.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// See and remove the apps users authorized: consents, token use and refresh tokens (the
    /// account page's data, issue 25).
    #[command(subcommand)]
    Grants(grants::GrantsCommand),
    /// Verify and list the audit trail (issue 25).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Inspect and revoke users' third-party connections (the token vault, issue 11).
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Create or upgrade the database schema (SQLite file or PostgreSQL) and exit. `serve` does
    /// the same at start; run this once before starting several nodes on a new PostgreSQL
    /// database or release.
    Migrate,
}

/// Options of `serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Listen address (default 127.0.0.1:9000; port 0 picks a free port).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// Issuer URL (default http:// + the bound address). https unless the host is loopback.
    #[arg(long)]
    pub issuer: Option<String>,
    /// Development profile: a fixed development user is signed in automatically and consent
    /// is skipped. Refused on a non-loopback address.
    #[arg(long)]
    pub dev: bool,
    /// With `--dev`: start even though the database holds users other than the development
    /// user. Without it, `--dev` refuses such a database, because the development profile signs
    /// anyone in without a password.
    #[arg(long, requires = "dev")]
    pub dev_allow_existing_db: bool,
    /// Enable the client_credentials extension (SEP-1046, machine-to-machine clients): a
    /// shorthand for `[extensions.client_credentials] enabled = true` in the configuration (also
    /// `client_credentials = true`, or `MCP_AUTH_CLIENT_CREDENTIALS=true`). Off by default (spec
    /// EXT-04).
    #[arg(long)]
    pub client_credentials: bool,
}

impl ServeArgs {
    /// Apply the options that override the configuration: `--bind`, `--issuer`, and the
    /// extension shorthands (`--client-credentials`). `serve` applies `--dev` itself, after its
    /// check of the bind address.
    fn override_config(&self, config: &mut crate::config::Config) {
        if let Some(bind) = self.bind {
            config.bind = bind;
        }
        if let Some(issuer) = &self.issuer {
            config.issuer = Some(issuer.clone());
        }
        config.client_credentials |= self.client_credentials;
    }
}

/// `client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Add(admin::ClientAddArgs),
    /// List clients (never their secrets or secret hashes). Changes nothing.
    ///
    /// One tab-separated line per client (id, name, authentication method, grants, redirect
    /// URIs, scope, resources, number of valid secrets), or with --json a JSON array of objects.
    List {
        /// Print a JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one client's registration (never its secrets or secret hashes). Changes nothing.
    Show {
        /// The client_id.
        client_id: String,
        /// Print a JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client and revoke its refresh tokens.
    Remove {
        /// The client_id.
        client_id: String,
    },
    /// Give a confidential client a new secret, printed once. The current secrets keep working
    /// for the overlap window, then stop; secrets already expired are dropped.
    RotateSecret {
        /// The client_id.
        client_id: String,
        /// How long the previous secrets stay valid, in seconds (0 = stop now).
        #[arg(long, default_value_t = 3600)]
        overlap: u64,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create or update a local user. The password is read from standard input (first line).
    /// The name is stored in Unicode NFKC form (lookalikes such as fullwidth letters are the same
    /// name); leading or trailing whitespace and control or format characters are refused.
    Add {
        /// Login name.
        username: String,
    },
    /// List users, one line each (`username`, `sub`), followed by one line per upstream
    /// identity of the user (the upstream's issuer and `sub`, and the name and email it gave).
    /// Changes nothing.
    List,
    /// Remove a local user. Ends every sign-in session of the user at once (on every node),
    /// revokes every refresh token issued to the user (and denies the access tokens issued with
    /// them), forgets every consent the user gave, and removes the user's third-party
    /// connections from the vault (revoked at the third party first, RFC 7009, where it
    /// supports revocation).
    Remove {
        /// Login name.
        username: String,
    },
    /// Link an upstream identity to an existing user: the next sign-in through the upstream
    /// `--upstream` (an `[[upstream_idps]]` name) whose `sub` is `--subject` signs this user in,
    /// with their `sub`, consents and connections. Users are never linked by email; this is how
    /// an operator says two identities are one person. A user may have several upstream
    /// identities (link one per upstream account); linking one the user already has changes
    /// nothing. Refused when another user has this identity (`user unlink` it, or remove that
    /// user, first).
    Link {
        /// Login name (as `user list` shows it).
        username: String,
        /// The upstream's `name` in `[[upstream_idps]]`.
        #[arg(long)]
        upstream: String,
        /// The upstream's `sub` for the person (for GitHub, the numeric account id).
        #[arg(long)]
        subject: String,
    },
    /// Unlink an upstream identity from a user: the user stays, with their other identities,
    /// and the next sign-in through `--upstream` whose `sub` is `--subject` creates a new user.
    /// Refused when the user does not have that identity.
    Unlink {
        /// Login name (as `user list` shows it).
        username: String,
        /// The upstream's `name` in `[[upstream_idps]]`.
        #[arg(long)]
        upstream: String,
        /// The upstream's `sub` for the person.
        #[arg(long)]
        subject: String,
    },
    /// Set a local user's password, read from standard input (first line, at least 8
    /// characters; an empty line is refused), and ends every sign-in session of the user at once
    /// (on every node). Tokens already issued stay valid.
    Passwd {
        /// Login name.
        username: String,
    },
}

/// `consent` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// List the consents a user gave (client, resource, scopes). Changes nothing.
    List(ConsentListArgs),
    /// Revoke the consents a user gave, to every client or to one (--client): the user is
    /// asked again next time, and the refresh tokens the user holds for those clients are
    /// revoked (with the access tokens issued with them).
    Revoke(ConsentRevokeArgs),
}

/// Options of `consent list`.
#[derive(Debug, Args)]
pub struct ConsentListArgs {
    /// The user's login name.
    #[arg(long)]
    pub user: String,
    /// Only the consents given to this client_id.
    #[arg(long)]
    pub client: Option<String>,
    /// Print a JSON array of `{client_id, resource, scope}` instead of tab-separated lines.
    #[arg(long)]
    pub json: bool,
}

/// Options of `consent revoke`.
#[derive(Debug, Args)]
pub struct ConsentRevokeArgs {
    /// The user's login name.
    #[arg(long)]
    pub user: String,
    /// Only the consents given to (and refresh tokens issued to) this client_id.
    #[arg(long)]
    pub client: Option<String>,
}

/// `connections` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List the vault's entries: one tab-separated line per entry (iss, sub, connection, key
    /// id, updated as RFC 3339). Never prints a credential. Changes nothing.
    List {
        /// Only the entries of this subject (`sub`).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Remove a user's connection: revoke its tokens at the third party when it offers RFC 7009
    /// (best effort, needs the vault key), then delete the entry.
    Revoke {
        /// The user's subject (`sub`).
        #[arg(long)]
        subject: String,
        /// The connection's name.
        #[arg(long)]
        connection: String,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key and retire the current one. The retired key stays published
    /// until the tokens it signed have expired. A running server picks up the new key within a
    /// minute.
    Rotate,
    /// List signing keys.
    List,
}

/// Parse the command line and run it. Returns the process exit code.
pub async fn run() -> i32 {
    execute(Cli::parse()).await
}

/// The log format the command line's configuration asks for: `MCP_AUTH_LOG_FORMAT` (`json` or
/// `text`) when set, else `log_format` of the configuration file (and environment); the
/// human-readable format when neither says, or the configuration cannot be read (the command
/// then reports why).
pub fn log_format(cli: &Cli) -> crate::config::LogFormat {
    use crate::config::LogFormat;
    match std::env::var("MCP_AUTH_LOG_FORMAT").ok().as_deref() {
        Some(v) if v.eq_ignore_ascii_case("json") => return LogFormat::Json,
        Some(v) if v.eq_ignore_ascii_case("text") => return LogFormat::Text,
        _ => {}
    }
    crate::config::Config::load(cli.config.as_deref())
        .map(|c| c.log_format)
        .unwrap_or_default()
}

/// Run a parsed command line. Returns the process exit code: 0 on success, 1 after printing
/// the error on standard error.
pub async fn execute(cli: Cli) -> i32 {
    let changed = admin_change(cli.command.as_ref());
    let config = cli.config.clone();
    let result = match cli.command {
        None => serve::serve(cli.config.as_deref(), ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve::serve(cli.config.as_deref(), args).await,
        Some(Command::Client(cmd)) => admin::client(cli.config.as_deref(), cmd).await,
        Some(Command::User(cmd)) => admin::user(cli.config.as_deref(), cmd).await,
        Some(Command::Keys(cmd)) => admin::keys(cli.config.as_deref(), cmd).await,
        Some(Command::Consent(cmd)) => admin::consent(cli.config.as_deref(), cmd).await,
        Some(Command::Connections(cmd)) => admin::connections(cli.config.as_deref(), cmd).await,
        Some(Command::Grants(cmd)) => grants::grants(cli.config.as_deref(), cmd).await,
        Some(Command::Audit(cmd)) => audit::audit(cli.config.as_deref(), cmd).await,
        Some(Command::Migrate) => migrate(cli.config.as_deref()).await,
    };
    if let (Ok(()), Some((command, detail))) = (&result, changed) {
        admin::record_admin_command(config.as_deref(), command, detail).await;
    }
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The admin command of `command` that changes something, as (name, what it was given), for
/// the audit trail; `None` for `serve`, `migrate` and the commands that only read. What it was
/// given never holds a secret (passwords and keys come on standard input).
fn admin_change(command: Option<&Command>) -> Option<(&'static str, String)> {
    let change = match command? {
        Command::Client(ClientCommand::Add(a)) => ("client add", format!("name={}", a.name)),
        Command::Client(ClientCommand::Remove { client_id }) => {
            ("client remove", format!("client_id={client_id}"))
        }
        Command::Client(ClientCommand::RotateSecret { client_id, overlap }) => (
            "client rotate-secret",
            format!("client_id={client_id} overlap={overlap}"),
        ),
        Command::User(UserCommand::Add { username }) => ("user add", format!("user={username}")),
        Command::User(UserCommand::Remove { username }) => {
            ("user remove", format!("user={username}"))
        }
        Command::User(UserCommand::Passwd { username }) => {
            ("user passwd", format!("user={username}"))
        }
        Command::User(UserCommand::Link {
            username,
            upstream,
            subject,
        }) => (
            "user link",
            format!("user={username} upstream={upstream} subject={subject}"),
        ),
        Command::User(UserCommand::Unlink {
            username,
            upstream,
            subject,
        }) => (
            "user unlink",
            format!("user={username} upstream={upstream} subject={subject}"),
        ),
        Command::Consent(ConsentCommand::Revoke(a)) => (
            "consent revoke",
            format!(
                "user={} client={}",
                a.user,
                a.client.as_deref().unwrap_or("*")
            ),
        ),
        Command::Connections(ConnectionsCommand::Revoke {
            subject,
            connection,
        }) => (
            "connections revoke",
            format!("sub={subject} connection={connection}"),
        ),
        Command::Grants(grants::GrantsCommand::Revoke(a)) => (
            "grants revoke",
            format!("user={} client={}", a.user, a.client),
        ),
        Command::Keys(KeysCommand::Rotate) => ("keys rotate", String::new()),
        _ => return None,
    };
    Some(change)
}

/// `auth-server migrate`: run the configured database's migrations and exit.
async fn migrate(config_path: Option<&std::path::Path>) -> Result<(), String> {
    let config = crate::config::Config::load(config_path).map_err(|e| e.to_string())?;
    crate::storage::migrate(&config)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "database {} is up to date",
        crate::storage::Database::from_config(&config)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// The lines of the README's "Command line" block.
    fn readme_block() -> Vec<&'static str> {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("\n## Command line\n")
            .nth(1)
            .expect("README has a Command line section");
        let block = section
            .split("```")
            .nth(1)
            .expect("the section starts with a code block");
        block
            .lines()
            .filter(|l| l.starts_with("auth-server"))
            .collect()
    }

    /// Every leaf command: its words after `auth-server`, and its long flags.
    fn leaves(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
        let subcommands: Vec<_> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subcommands.is_empty() {
            let flags = cmd
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .filter_map(|a| a.get_long())
                .filter(|l| !matches!(*l, "help" | "version" | "config"))
                .map(|l| format!("--{l}"))
                .collect();
            out.push((path.join(" "), flags));
            return;
        }
        for sub in subcommands {
            path.push(sub.get_name().to_owned());
            leaves(sub, path, out);
            path.pop();
        }
    }

    /// Issue 22 §3: the README's "Command line" block lists every command and every flag the
    /// binary has, checked against clap's definition, so the two cannot drift apart.
    #[test]
    fn readme_command_line_block_lists_every_command_and_flag() {
        let block = readme_block();
        let mut all = Vec::new();
        leaves(&Cli::command(), &mut Vec::new(), &mut all);
        assert!(all.len() > 10, "{all:?}");
        let mut missing = Vec::new();
        for (path, flags) in &all {
            let words = format!("auth-server {path}");
            let line = block.iter().find(|l| {
                l.starts_with(&format!("{words} "))
                    || **l == words
                    || (path == "serve" && l.contains("[serve "))
            });
            let Some(line) = line else {
                missing.push(format!("command `{words}`"));
                continue;
            };
            for flag in flags {
                let listed = line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                    .any(|w| w == flag);
                if !listed {
                    missing.push(format!("`{flag}` of `{words}`"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in the README's Command line block: {missing:?}"
        );
    }
}
