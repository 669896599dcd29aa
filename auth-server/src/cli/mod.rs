//! The `auth-server` command line: `serve` (the default) and the admin commands.

mod admin;
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

/// `client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once.
    Add(admin::ClientAddArgs),
    /// List clients (never their secrets).
    List,
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
    Add {
        /// Login name.
        username: String,
    },
    /// List local users.
    List,
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
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve::serve(cli.config.as_deref(), ServeArgs::default()).await,
        Some(Command::Serve(args)) => serve::serve(cli.config.as_deref(), args).await,
        Some(Command::Client(cmd)) => admin::client(cli.config.as_deref(), cmd).await,
        Some(Command::User(cmd)) => admin::user(cli.config.as_deref(), cmd).await,
        Some(Command::Keys(cmd)) => admin::keys(cli.config.as_deref(), cmd).await,
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
