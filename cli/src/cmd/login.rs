//! `berth login` / `berth logout`: store or remove a registry's credentials in
//! `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), the file docker uses, so both
//! tools share logins. Pulls and pushes read them and send them to the engine as
//! `X-Registry-Auth`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_engine::image::Reference;
use berth_engine::image::auth::{self, Credentials};
use clap::Args;

use crate::global::GlobalArgs;

/// Options of `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry (`host[:port]`); Docker Hub when omitted.
    server: Option<String>,
    /// User name.
    #[arg(short, long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: this one shows in the process list; no `-p`, which
    /// is the global project name).
    #[arg(long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// Options of `berth logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (`host[:port]`); Docker Hub when omitted.
    server: Option<String>,
}

/// The credentials file berth and docker share.
pub fn config_file() -> anyhow::Result<PathBuf> {
    let docker_config = std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if docker_config.is_none() && home.is_none() {
        bail!("neither DOCKER_CONFIG nor HOME is set: cannot find config.json");
    }
    Ok(auth::config_path(
        docker_config.as_deref(),
        &home.unwrap_or_default(),
    ))
}

/// The `X-Registry-Auth` value for the registry of `image`, from the stored logins.
pub fn registry_auth_for(image: &str) -> anyhow::Result<Option<String>> {
    let Ok(r) = Reference::parse_normalized(image) else {
        return Ok(None);
    };
    let path = config_file()?;
    Ok(auth::lookup(&path, r.domain())
        .with_context(|| format!("reading credentials from {}", path.display()))?
        .map(|c| c.to_registry_auth_header(r.domain())))
}

fn prompt(label: &str) -> anyhow::Result<String> {
    eprint!("{label}: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Stores the credentials (the engine is not contacted: the registry checks them on use).
pub fn login(args: LoginArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let domain = auth::normalize_server(args.server.as_deref().unwrap_or(""));
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match args.username {
        Some(u) => u,
        None if args.password_stdin => bail!("--password-stdin needs --username"),
        None if std::io::stdin().is_terminal() => prompt("Username")?,
        None => bail!("no --username given and standard input is not a terminal"),
    };
    let password = if args.password_stdin {
        let mut all = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut all)
            .context("reading the password from standard input")?;
        all.trim_end_matches(['\r', '\n']).to_owned()
    } else if let Some(p) = args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if std::io::stdin().is_terminal() {
        prompt("Password")?
    } else {
        bail!("no password given: use --password-stdin");
    };
    if username.is_empty() || password.is_empty() {
        bail!("user name and password must not be empty");
    }
    let path = config_file()?;
    auth::store(&path, &domain, &Credentials { username, password })
        .with_context(|| format!("saving credentials to {}", path.display()))?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// Removes the stored credentials of the registry.
pub fn logout(args: LogoutArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let domain = auth::normalize_server(args.server.as_deref().unwrap_or(""));
    let path = config_file()?;
    let removed = auth::erase(&path, &domain)
        .with_context(|| format!("removing credentials from {}", path.display()))?;
    if removed {
        println!("Removing login credentials for {domain}");
    } else {
        println!("Not logged in to {domain}");
    }
    Ok(ExitCode::SUCCESS)
}
