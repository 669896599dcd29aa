//! `mcp-auth-conformance`: check an MCP authorization server and a protected MCP server from
//! the outside. See the README section "Check your deployment".

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mcp_auth_conformance::check::as_checks::{self, AsOptions, DEFAULT_REDIRECT_URI};
use mcp_auth_conformance::check::browser::Login;
use mcp_auth_conformance::check::cc_checks::{self, CcOptions};
use mcp_auth_conformance::check::dpop_checks::{self, DpopOptions};
use mcp_auth_conformance::check::http::{Http, basic};
use mcp_auth_conformance::check::obo_checks::{self, OboOptions};
use mcp_auth_conformance::check::rs_checks::{self, RsOptions};
use mcp_auth_conformance::check::wif_checks::{self, WifOptions};
use mcp_auth_conformance::check::xaa_checks::{self, XaaOptions};
use mcp_auth_conformance::check::{Report, SpecVersion};
use mcp_auth_conformance::{CimdHost, MockIdp};
use mcp_auth_core::Secret;

/// Black-box conformance checks for MCP authorization servers and protected MCP servers.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Black-box conformance checks for MCP authorization servers and protected MCP servers"
)]
struct Cli {
    /// Which revision's expectations apply where they differ.
    #[arg(long, global = true, default_value = "2026-07-28")]
    spec_version: SpecVersion,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Also write the report as JUnit XML to this file.
    #[arg(long, global = true)]
    junit: Option<PathBuf>,
    /// An extra CA certificate (PEM) to trust when calling the servers under test.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an authorization server.
    As(Box<AsArgs>),
    /// Check a protected MCP server (resource server).
    Rs(RsArgs),
    /// Check the client_credentials grant.
    ClientCredentials(CcArgs),
    /// Check Enterprise-Managed Authorization (ID-JAG); the CLI plays the IdP.
    Xaa(XaaArgs),
    /// Check DPoP (RFC 9449, SEP-1932) at an authorization server and, with --mcp-url, at the
    /// MCP server: bound tokens come from client_credentials.
    Dpop(DpopArgs),
    /// Check workload identity federation (SEP-1933, `auth/wif-jwt-bearer`); the CLI plays the
    /// workload platform and redeems its identity tokens without client authentication.
    Wif(WifArgs),
    /// Check on-behalf-of token exchange (RFC 8693 with `act`): an MCP server exchanges its
    /// user's access token for a token to a downstream resource.
    Obo(OboArgs),
    /// Run as, rs (and client-credentials, xaa when their clients are given).
    All(Box<AllArgs>),
    /// List every check ID.
    List,
    /// Create a P-256 key for a private_key_jwt test client: the PKCS#8 PEM for
    /// `--private-key` and the JWK Set to register (`auth-server client add --jwks`).
    Keygen {
        /// Where to write the private key (PEM).
        #[arg(long)]
        pem: PathBuf,
        /// Where to write the public JWK Set (JSON).
        #[arg(long)]
        jwks: PathBuf,
    },
    /// Create the CIMD test CA in a directory (ca.pem, ca.key) and print the path of ca.pem,
    /// for the AS to trust before `as --cimd-ca-dir` hosts documents.
    CimdCa {
        /// The directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Args, Clone)]
struct AsArgs {
    /// The issuer, exactly as clients are configured with it.
    #[arg(long)]
    issuer: String,
    #[command(flatten)]
    flow: FlowArgs,
}

#[derive(Debug, Args, Clone)]
struct FlowArgs {
    /// A client registered at the AS for the code flow.
    #[arg(long)]
    client_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "MCP_CONFORMANCE_CLIENT_SECRET", hide_env_values = true, value_parser = secret_arg)]
    client_secret: Option<Secret>,
    /// The client's registered redirect URI (nothing needs to listen there).
    #[arg(long, default_value = DEFAULT_REDIRECT_URI)]
    redirect_uri: String,
    /// The MCP server (RFC 8707 resource) to ask tokens for.
    #[arg(long)]
    resource: Option<String>,
    /// The scope to ask for.
    #[arg(long)]
    scope: Option<String>,
    /// Fill a plain HTML sign-in form with user:password (default: only follow redirects and
    /// approve consent, for an AS in an auto-approving test mode).
    #[arg(long, env = "MCP_CONFORMANCE_LOGIN_FORM", hide_env_values = true)]
    login_form: Option<Login>,
    /// A Client ID Metadata Document URL to use as a client.
    #[arg(long)]
    cimd_url: Option<String>,
    /// Host Client ID Metadata Documents on an https loopback port (the AS must trust the CA
    /// whose path is printed).
    #[arg(long)]
    cimd_host: bool,
    /// Keep the CIMD CA in this directory (ca.pem, ca.key), created on first use.
    #[arg(long)]
    cimd_ca_dir: Option<PathBuf>,
    /// Where the CIMD host listens (default a free loopback port).
    #[arg(long)]
    cimd_bind: Option<SocketAddr>,
}

#[derive(Debug, Args, Clone)]
struct RsArgs {
    /// The MCP endpoint, exactly as clients are configured with it.
    #[arg(long)]
    mcp_url: String,
    /// A valid access token for it.
    #[arg(long, env = "MCP_CONFORMANCE_TOKEN", hide_env_values = true, value_parser = secret_arg)]
    token: Option<Secret>,
    #[command(flatten)]
    kit: KitArgs,
}

#[derive(Debug, Args, Clone)]
struct KitArgs {
    /// Where the kit's issuer (metadata + JWKS of the CLI's test key) listens; point the MCP
    /// server under test at it to run the invalid_token checks.
    #[arg(long)]
    kit_issuer_bind: Option<SocketAddr>,
    /// Do not try the kit's tokens at all.
    #[arg(long)]
    no_kit: bool,
    /// A tool that needs more than the baseline scopes (for the 403 insufficient_scope check).
    #[arg(long)]
    privileged_tool: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct CcArgs {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// The machine client.
    #[arg(long)]
    client_id: String,
    /// Its secret (client_secret_basic and client_secret_post).
    #[arg(long, env = "MCP_CONFORMANCE_CC_SECRET", hide_env_values = true, value_parser = secret_arg)]
    client_secret: Option<Secret>,
    /// Its PKCS#8 PEM private key file (private_key_jwt).
    #[arg(long)]
    private_key: Option<PathBuf>,
    /// A client authentication method to check (repeat): client_secret_basic,
    /// client_secret_post, private_key_jwt. Default: basic with a secret, private_key_jwt with
    /// a key. The AS accepts only the method the client is registered with.
    #[arg(long)]
    auth_method: Vec<String>,
    /// The resource to ask for.
    #[arg(long)]
    resource: Option<String>,
    /// The scope to ask for.
    #[arg(long)]
    scope: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct DpopArgs {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// A client allowed the client_credentials grant, authenticating with client_secret_basic.
    #[arg(long)]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "MCP_CONFORMANCE_DPOP_SECRET", hide_env_values = true, value_parser = secret_arg)]
    client_secret: Secret,
    /// The resource to ask for (the MCP server's resource URI for the --mcp-url checks).
    #[arg(long)]
    resource: Option<String>,
    /// The MCP endpoint that accepts the bound tokens; without it those checks are skipped.
    #[arg(long)]
    mcp_url: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct WifArgs {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// Where the mock workload issuer listens (the AS must trust http://<this address>).
    #[arg(long)]
    issuer_bind: Option<SocketAddr>,
    /// The workload subject the AS allows for the mock issuer.
    #[arg(long, default_value = "system:serviceaccount:conformance:checker")]
    subject: String,
    /// The `aud` of the assertions (default: the issuer).
    #[arg(long)]
    audience: Option<String>,
    /// The resource to ask for.
    #[arg(long)]
    resource: Option<String>,
    /// The scope to ask for.
    #[arg(long)]
    scope: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct OboArgs {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// The MCP server's client (confidential, allowed the token-exchange grant).
    #[arg(long)]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "MCP_CONFORMANCE_OBO_SECRET", hide_env_values = true, value_parser = secret_arg)]
    client_secret: Secret,
    /// A user's access token for the MCP server's resource.
    #[arg(long, env = "MCP_CONFORMANCE_OBO_SUBJECT_TOKEN", hide_env_values = true, value_parser = secret_arg)]
    subject_token: Secret,
    /// The downstream resource the MCP server may exchange to.
    #[arg(long)]
    audience: String,
    /// The scope to ask for.
    #[arg(long)]
    scope: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct CcClientArgs {
    /// The machine client.
    #[arg(long)]
    cc_client_id: Option<String>,
    /// Its secret (client_secret_basic and client_secret_post).
    #[arg(long, env = "MCP_CONFORMANCE_CC_SECRET", hide_env_values = true, value_parser = secret_arg)]
    cc_client_secret: Option<Secret>,
    /// Its PKCS#8 PEM private key file (private_key_jwt).
    #[arg(long = "cc-private-key")]
    private_key: Option<PathBuf>,
    /// A client authentication method of the client credentials client (repeat).
    #[arg(long = "cc-auth-method")]
    auth_method: Vec<String>,
}

#[derive(Debug, Args, Clone)]
struct XaaArgs {
    /// The issuer.
    #[arg(long)]
    issuer: String,
    /// A confidential client allowed the jwt-bearer grant.
    #[arg(long)]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "MCP_CONFORMANCE_XAA_SECRET", hide_env_values = true, value_parser = secret_arg)]
    client_secret: Secret,
    /// Where the mock IdP listens (the AS must trust http://<this address>).
    #[arg(long)]
    idp_bind: Option<SocketAddr>,
    /// The user the mock IdP asserts.
    #[arg(long, default_value = "conformance-user")]
    subject: String,
    /// The resource named in the ID-JAGs.
    #[arg(long)]
    resource: Option<String>,
    /// The scope named in the ID-JAGs.
    #[arg(long)]
    scope: Option<String>,
}

#[derive(Debug, Args, Clone)]
struct XaaClientArgs {
    /// A confidential client allowed the jwt-bearer grant.
    #[arg(long)]
    xaa_client_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "MCP_CONFORMANCE_XAA_SECRET", hide_env_values = true, value_parser = secret_arg)]
    xaa_client_secret: Option<Secret>,
    /// Where the mock IdP listens (the AS must trust http://<this address>).
    #[arg(long)]
    idp_bind: Option<SocketAddr>,
    /// The user the mock IdP asserts.
    #[arg(long, default_value = "conformance-user")]
    subject: String,
}

#[derive(Debug, Args, Clone)]
struct AllArgs {
    /// The MCP endpoint.
    #[arg(long)]
    mcp_url: String,
    /// The issuer (default: the first authorization server of the MCP server's PRM).
    #[arg(long)]
    issuer: Option<String>,
    #[command(flatten)]
    flow: FlowArgs,
    #[command(flatten)]
    kit: KitArgs,
    #[command(flatten)]
    cc: CcClientArgs,
    #[command(flatten)]
    xaa: XaaClientArgs,
    /// Another resource of the same AS: a token for it must be refused (audience confusion).
    #[arg(long)]
    other_resource: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let ca = match &cli.ca_file {
        Some(p) => match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: --ca-file {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let http = match Http::new(ca.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: HTTP client: {e}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Command::Keygen { pem, jwks } => return keygen(pem, jwks),
        Command::CimdCa { dir } => return cimd_ca(dir).await,
        Command::List => return list(),
        _ => {}
    }
    let report = match run(&cli, &http).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = if cli.json {
        format!("{:#}\n", report.json())
    } else {
        report.table()
    };
    {
        use std::io::Write as _;
        // A closed pipe (`| head`) is not an error worth a panic; the exit code still tells.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    if let Some(path) = &cli.junit
        && let Err(e) = std::fs::write(path, report.junit())
    {
        eprintln!("error: --junit {}: {e}", path.display());
        return ExitCode::from(2);
    }
    ExitCode::from(report.exit_code() as u8)
}

/// `keygen`: a new test key as a PKCS#8 PEM file and a JWK Set file.
fn keygen(pem: &std::path::Path, jwks: &std::path::Path) -> ExitCode {
    let written = mcp_auth_conformance::TestKey::generate_with_thumbprint_kid()
        .map_err(|e| e.to_string())
        .and_then(|k| {
            std::fs::write(pem, k.private_key_pem()).map_err(|e| e.to_string())?;
            let set = mcp_auth_conformance::jwks_of(&[&k]);
            std::fs::write(jwks, format!("{set:#}")).map_err(|e| e.to_string())
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: keygen: {e}");
            ExitCode::from(2)
        }
    }
}

/// `cimd-ca`: create (or keep) the CIMD CA in `dir` and print its certificate's path.
async fn cimd_ca(dir: &std::path::Path) -> ExitCode {
    match CimdHost::start(Some(dir), None).await {
        Ok(host) => {
            if let Some(p) = host.ca_path() {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `list`: every check of every suite, with its official name.
fn list() -> ExitCode {
    let groups: [(&str, &[mcp_auth_conformance::check::CheckId]); 7] = [
        ("as", as_checks::ALL),
        ("rs", rs_checks::ALL),
        ("client-credentials", cc_checks::ALL),
        ("xaa", xaa_checks::ALL),
        ("dpop", dpop_checks::ALL),
        ("wif", wif_checks::ALL),
        ("obo", obo_checks::ALL),
    ];
    let mut out = String::new();
    for (name, checks) in groups {
        out.push_str(&format!("{name}:\n"));
        for c in checks {
            out.push_str(&format!(
                "  {:<20} {:<38} {}\n",
                c.id,
                c.official.unwrap_or("-"),
                c.title
            ));
        }
    }
    use std::io::Write as _;
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    ExitCode::SUCCESS
}

/// `value` of `--flag` must be an absolute http(s) URL with a host; for an issuer also without
/// query or fragment (RFC 8414 §2). Otherwise the checker cannot run: exit code 2.
fn absolute_url(flag: &str, value: &str, issuer: bool) -> Result<(), String> {
    let u = url::Url::parse(value)
        .map_err(|e| format!("--{flag} {value:?} is not an absolute URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "--{flag} {value:?} is not an http(s) URL with a host"
        ));
    }
    if issuer && (u.query().is_some() || u.fragment().is_some()) {
        return Err(format!(
            "--{flag} {value:?}: an issuer has no query or fragment (RFC 8414 §2)"
        ));
    }
    Ok(())
}

/// Every URL argument of the command, checked before anything runs.
fn check_arguments(command: &Command) -> Result<(), String> {
    let flow = |f: &FlowArgs| -> Result<(), String> {
        absolute_url("redirect-uri", &f.redirect_uri, false)?;
        if let Some(r) = &f.resource {
            absolute_url("resource", r, false)?;
        }
        if let Some(c) = &f.cimd_url {
            absolute_url("cimd-url", c, false)?;
        }
        Ok(())
    };
    match command {
        Command::As(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            flow(&a.flow)
        }
        Command::Rs(a) => absolute_url("mcp-url", &a.mcp_url, false),
        Command::ClientCredentials(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            a.resource
                .as_deref()
                .map_or(Ok(()), |r| absolute_url("resource", r, false))
        }
        Command::Xaa(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            a.resource
                .as_deref()
                .map_or(Ok(()), |r| absolute_url("resource", r, false))
        }
        Command::Dpop(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            for (flag, url) in [("resource", &a.resource), ("mcp-url", &a.mcp_url)] {
                url.as_deref()
                    .map_or(Ok(()), |u| absolute_url(flag, u, false))?;
            }
            Ok(())
        }
        Command::Wif(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            a.resource
                .as_deref()
                .map_or(Ok(()), |r| absolute_url("resource", r, false))
        }
        Command::Obo(a) => {
            absolute_url("issuer", &a.issuer, true)?;
            absolute_url("audience", &a.audience, false)
        }
        Command::All(a) => {
            absolute_url("mcp-url", &a.mcp_url, false)?;
            if let Some(i) = &a.issuer {
                absolute_url("issuer", i, true)?;
            }
            if let Some(o) = &a.other_resource {
                absolute_url("other-resource", o, false)?;
            }
            flow(&a.flow)
        }
        Command::List | Command::Keygen { .. } | Command::CimdCa { .. } => Ok(()),
    }
}

async fn run(cli: &Cli, http: &Http) -> Result<Report, String> {
    check_arguments(&cli.command)?;
    match &cli.command {
        Command::List => {
            let mut r = Report::new();
            for c in mcp_auth_conformance::check::all_checks() {
                r.skip(*c, "not run (list)");
            }
            Ok(r)
        }
        Command::As(a) => {
            let (opts, _host) = as_options(cli, &a.issuer, &a.flow).await?;
            Ok(as_checks::run(http, &opts).await)
        }
        Command::Rs(a) => {
            Ok(rs_checks::run(http, &rs_options(&a.mcp_url, a.token.clone(), None, &a.kit)).await)
        }
        Command::Dpop(a) => {
            let opts = DpopOptions {
                issuer: a.issuer.clone(),
                client_id: a.client_id.clone(),
                client_secret: a.client_secret.clone(),
                resource: a.resource.clone(),
                mcp_url: a.mcp_url.clone(),
            };
            Ok(dpop_checks::run(http, &opts).await)
        }
        Command::ClientCredentials(a) => {
            let c = CcClientArgs {
                cc_client_id: Some(a.client_id.clone()),
                cc_client_secret: a.client_secret.clone(),
                private_key: a.private_key.clone(),
                auth_method: a.auth_method.clone(),
            };
            let opts = cc_options(&a.issuer, &c, a.resource.clone(), a.scope.clone())?
                .ok_or("client-credentials needs --client-id")?;
            Ok(cc_checks::run(http, &opts).await)
        }
        Command::Xaa(a) => {
            let x = XaaClientArgs {
                xaa_client_id: Some(a.client_id.clone()),
                xaa_client_secret: Some(a.client_secret.clone()),
                idp_bind: a.idp_bind,
                subject: a.subject.clone(),
            };
            let opts = xaa_options(&a.issuer, &x, a.resource.clone(), a.scope.clone())?
                .ok_or("xaa needs --client-id and --client-secret")?;
            let idp = start_idp(&x).await?;
            Ok(xaa_checks::run(http, &opts, &idp).await)
        }
        Command::Wif(a) => run_wif(http, a).await,
        Command::Obo(a) => {
            let opts = OboOptions {
                issuer: a.issuer.clone(),
                client_id: a.client_id.clone(),
                client_secret: a.client_secret.clone(),
                subject_token: a.subject_token.clone(),
                audience: a.audience.clone(),
                scope: a.scope.clone(),
            };
            Ok(obo_checks::run(http, &opts).await)
        }
        Command::All(a) => run_all(cli, http, a).await,
        Command::CimdCa { .. } | Command::Keygen { .. } => Ok(Report::new()),
    }
}

/// `wif`: start the mock workload issuer, then run the checks.
async fn run_wif(http: &Http, a: &WifArgs) -> Result<Report, String> {
    let issuer = MockIdp::start(a.issuer_bind)
        .await
        .map_err(|e| format!("mock workload issuer: {e}"))?;
    eprintln!(
        "mock workload issuer {} (the AS must trust it for subject {})",
        issuer.issuer(),
        a.subject
    );
    let opts = WifOptions {
        issuer: a.issuer.clone(),
        subject: a.subject.clone(),
        audience: a.audience.clone(),
        resource: a.resource.clone(),
        scope: a.scope.clone(),
        refetch_wait: a.issuer_bind.map(|_| xaa_checks::REFETCH_WAIT),
    };
    Ok(wif_checks::run(http, &opts, &issuer).await)
}

async fn run_all(cli: &Cli, http: &Http, a: &AllArgs) -> Result<Report, String> {
    let issuer = match &a.issuer {
        Some(i) => i.clone(),
        None => {
            let prm = rs_checks::prm_url(&a.mcp_url).ok_or("--mcp-url is not an absolute URL")?;
            let ex = http.get(&prm, &[]).await;
            let issuer = ex
                .json()
                .and_then(|j| j["authorization_servers"][0].as_str().map(str::to_owned))
                .ok_or_else(|| format!("no authorization_servers in {prm}; pass --issuer"))?;
            absolute_url(
                "issuer (from the protected resource metadata)",
                &issuer,
                true,
            )?;
            issuer
        }
    };
    let mut flow = a.flow.clone();
    if flow.resource.is_none() {
        flow.resource = Some(a.mcp_url.clone());
    }
    let (opts, _host) = as_options(cli, &issuer, &flow).await?;
    let mut report = as_checks::run(http, &opts).await;
    let cc = cc_options(&issuer, &a.cc, flow.resource.clone(), flow.scope.clone())?;
    let token = match as_checks::obtain_token(http, &opts).await {
        Ok(t) => Some(Secret::new(t)),
        Err(e) => match &cc {
            Some(cc) if cc.client_secret.is_some() => cc_token(http, &issuer, cc, None).await,
            _ => {
                eprintln!("note: no token for the rs checks from the code flow: {e}");
                None
            }
        },
    };
    let foreign = match &a.other_resource {
        None => None,
        Some(other) => {
            let mut o = opts.clone();
            o.resource = Some(other.clone());
            match as_checks::obtain_token(http, &o).await {
                Ok(t) => Some(Secret::new(t)),
                Err(_) => match &cc {
                    Some(cc) => cc_token(http, &issuer, cc, Some(other)).await,
                    None => None,
                },
            }
        }
    };
    report.extend(rs_checks::run(http, &rs_options(&a.mcp_url, token, foreign, &a.kit)).await);
    if let Some(cc) = cc {
        report.extend(cc_checks::run(http, &cc).await);
    }
    if let Some(x) = xaa_options(&issuer, &a.xaa, flow.resource.clone(), flow.scope.clone())? {
        let idp = start_idp(&a.xaa).await?;
        report.extend(xaa_checks::run(http, &x, &idp).await);
    }
    Ok(report)
}

async fn as_options(
    cli: &Cli,
    issuer: &str,
    f: &FlowArgs,
) -> Result<(AsOptions, Option<CimdHost>), String> {
    let mut opts = AsOptions::new(issuer);
    opts.client_id = f.client_id.clone();
    opts.client_secret = f.client_secret.clone();
    opts.redirect_uri = f.redirect_uri.clone();
    opts.resource = f.resource.clone();
    opts.scope = f.scope.clone();
    opts.login = f.login_form.clone().unwrap_or(Login::Auto);
    opts.spec = cli.spec_version;
    opts.cimd_url = f.cimd_url.clone();
    let host = if f.cimd_host || f.cimd_ca_dir.is_some() {
        let host = CimdHost::start(f.cimd_ca_dir.as_deref(), f.cimd_bind)
            .await
            .map_err(|e| match f.cimd_bind {
                Some(a) => format!("--cimd-bind {a}: cannot start the CIMD host: {e}"),
                None => format!("CIMD host: {e}"),
            })?;
        let good = host.url("conformance-client");
        let bad = host.url("mismatched-client");
        host.put(
            "conformance-client",
            CimdHost::document(&good, &[&f.redirect_uri]),
        );
        let mut doc = CimdHost::document(&good, &[&f.redirect_uri]);
        doc["client_id"] = good.clone().into();
        host.put("mismatched-client", doc);
        match host.ca_path() {
            Some(p) => eprintln!(
                "CIMD documents at {good}; the AS must trust the CA {}",
                p.display()
            ),
            None => eprintln!(
                "CIMD documents at {good}; the AS must trust this CA (use --cimd-ca-dir to keep it in a file):\n{}",
                host.ca_pem()
            ),
        }
        opts.cimd_hosted = Some((good, bad));
        Some(host)
    } else {
        None
    };
    Ok((opts, host))
}

fn rs_options(
    mcp_url: &str,
    token: Option<Secret>,
    foreign: Option<Secret>,
    k: &KitArgs,
) -> RsOptions {
    RsOptions {
        mcp_url: mcp_url.to_owned(),
        token,
        foreign_token: foreign,
        kit_issuer_bind: k.kit_issuer_bind,
        kit: !k.no_kit,
        privileged_tool: k.privileged_tool.clone(),
        refetch_wait: k.kit_issuer_bind.map(|_| rs_checks::REFETCH_WAIT),
    }
}

fn cc_options(
    issuer: &str,
    c: &CcClientArgs,
    resource: Option<String>,
    scope: Option<String>,
) -> Result<Option<CcOptions>, String> {
    let Some(id) = &c.cc_client_id else {
        return Ok(None);
    };
    let private_key_pem = match &c.private_key {
        Some(p) => {
            Some(Secret::new(std::fs::read_to_string(p).map_err(|e| {
                format!("--private-key {}: {e}", p.display())
            })?))
        }
        None => None,
    };
    if c.cc_client_secret.is_none() && private_key_pem.is_none() {
        return Err("the client credentials client needs --client-secret or --private-key".into());
    }
    Ok(Some(CcOptions {
        issuer: issuer.to_owned(),
        client_id: id.clone(),
        client_secret: c.cc_client_secret.clone(),
        private_key_pem,
        resource,
        scope,
        methods: c.auth_method.clone(),
    }))
}

fn xaa_options(
    issuer: &str,
    x: &XaaClientArgs,
    resource: Option<String>,
    scope: Option<String>,
) -> Result<Option<XaaOptions>, String> {
    match (&x.xaa_client_id, &x.xaa_client_secret) {
        (None, _) => Ok(None),
        (Some(_), None) => Err("the xaa client needs a secret".into()),
        (Some(id), Some(secret)) => Ok(Some(XaaOptions {
            issuer: issuer.to_owned(),
            client_id: id.clone(),
            client_secret: secret.clone(),
            resource,
            scope,
            subject: x.subject.clone(),
            refetch_wait: x.idp_bind.map(|_| xaa_checks::REFETCH_WAIT),
        })),
    }
}

async fn start_idp(x: &XaaClientArgs) -> Result<MockIdp, String> {
    let idp = MockIdp::start(x.idp_bind)
        .await
        .map_err(|e| match x.idp_bind {
            Some(a) => format!("--idp-bind {a}: cannot start the mock IdP: {e}"),
            None => format!("mock IdP: {e}"),
        })?;
    eprintln!("mock IdP issuer {} (the AS must trust it)", idp.issuer());
    Ok(idp)
}

/// A client_credentials token (secret, Basic) for `resource` (default the options').
async fn cc_token(
    http: &Http,
    issuer: &str,
    cc: &CcOptions,
    resource: Option<&String>,
) -> Option<Secret> {
    let meta = mcp_auth_conformance::check::fetch_metadata(http, issuer)
        .await
        .ok()?;
    let mut p = vec![("grant_type", "client_credentials")];
    if let Some(r) = resource.or(cc.resource.as_ref()) {
        p.push(("resource", r));
    }
    let auth = basic(&cc.client_id, cc.client_secret.as_ref()?.expose());
    let ex = http
        .post_form(meta.str("token_endpoint")?, &p, Some(&auth))
        .await;
    ex.json()?["access_token"].as_str().map(Secret::new)
}

/// A secret given on the command line or in its environment variable: `Debug` (and so the
/// parsed arguments' `Debug`) prints `[redacted]`.
fn secret_arg(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}
