//! `berth container run`: create a container from an image with `docker run`'s common flags,
//! start it, and (unless `-d`) stream its output and exit with its exit code.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::{ContainerCreateBody, Ulimit};
use berth_engine::backend::{AttachOptions, WaitCondition};
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Keep stdin open and attach it.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a terminal (raw mode on yours; ctrl-p ctrl-q detaches).
    #[arg(short, long)]
    tty: bool,
    /// Container name.
    #[arg(long)]
    name: Option<String>,
    /// Environment variable `KEY=value` (repeatable).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// `user[:group]` to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Container hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (`64m`, `1g`, bytes).
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs (`1.5`).
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    cpu_shares: Option<i64>,
    /// CPUs allowed (`0-2`, `0,1`).
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Maximum number of processes.
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Add a Linux capability (repeatable).
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop a Linux capability (repeatable).
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Every capability, no seccomp, no masked paths, all devices.
    #[arg(long)]
    privileged: bool,
    /// Mount the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// `name=soft[:hard]` resource limit (repeatable).
    #[arg(long)]
    ulimit: Vec<String>,
    /// Security option (`no-new-privileges`, `seccomp=unconfined`; repeatable).
    #[arg(long)]
    security_opt: Vec<String>,
    /// Run an init inside the container that reaps zombies and forwards signals.
    #[arg(long)]
    init: bool,
    /// Network mode (`none`, `host`, …).
    #[arg(long)]
    network: Option<String>,
    /// Image to run.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Parses a Docker size (`512`, `64k`, `64m`, `1g`, case-insensitive, optional `b`).
pub fn parse_size(s: &str) -> anyhow::Result<i64> {
    let bytes = berth_engine::config::parse_size(s).with_context(|| {
        format!("invalid size {s:?} (expected a number with an optional k, m or g)")
    })?;
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

fn parse_ulimit(s: &str) -> anyhow::Result<Ulimit> {
    let (name, limits) = s
        .split_once('=')
        .with_context(|| format!("--ulimit {s:?}: expected name=soft[:hard]"))?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let num = |v: &str| {
        v.parse::<i64>()
            .with_context(|| format!("--ulimit {s:?}: {v:?} is not a number"))
    };
    Ok(Ulimit {
        name: name.to_owned(),
        soft: num(soft)?,
        hard: num(hard)?,
    })
}

/// The create request for these flags.
fn body(args: &RunArgs) -> anyhow::Result<ContainerCreateBody> {
    let mut b = ContainerCreateBody::default();
    let c = &mut b.config;
    c.image = args.image.clone();
    if !args.command.is_empty() {
        c.cmd = Some(args.command.clone());
    }
    if let Some(e) = &args.entrypoint {
        c.entrypoint = Some(vec![e.clone()]);
    }
    c.env = args.env.clone();
    c.working_dir = args.workdir.clone().unwrap_or_default();
    c.user = args.user.clone().unwrap_or_default();
    c.hostname = args.hostname.clone().unwrap_or_default();
    c.attach_stdout = !args.detach;
    c.attach_stderr = !args.detach;
    c.tty = args.tty;
    c.open_stdin = args.interactive;
    c.attach_stdin = args.interactive && !args.detach;
    c.stdin_once = args.interactive && !args.detach;
    let h = &mut b.host_config;
    h.auto_remove = args.rm;
    h.memory = args
        .memory
        .as_deref()
        .map(parse_size)
        .transpose()?
        .unwrap_or(0);
    h.nano_cpus = args.cpus.map_or(0, |c| (c * 1e9) as i64);
    h.cpu_shares = args.cpu_shares.unwrap_or(0);
    h.cpuset_cpus = args.cpuset_cpus.clone().unwrap_or_default();
    h.pids_limit = args.pids_limit;
    h.cap_add = args.cap_add.clone();
    h.cap_drop = args.cap_drop.clone();
    h.privileged = args.privileged;
    h.readonly_rootfs = args.read_only;
    h.ulimits = args
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<anyhow::Result<_>>()?;
    h.security_opt = args.security_opt.clone();
    h.init = args.init.then_some(true);
    h.network_mode = args.network.clone().unwrap_or_default();
    Ok(b)
}

/// Creates and starts the container; follows it unless detached.
pub fn run(args: RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let body = body(&args)?;
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let created = client
            .create_container(args.name.as_deref(), &body)
            .await
            .with_context(|| format!("creating a container from {}", args.image))?;
        for w in &created.warnings {
            eprintln!("WARNING: {w}");
        }
        let id = created.id;
        if args.detach {
            client
                .start_container(&id)
                .await
                .with_context(|| format!("starting {id}"))?;
            println!("{id}");
            return Ok(ExitCode::SUCCESS);
        }
        let opts = AttachOptions {
            stdout: true,
            stderr: true,
            ..AttachOptions::default()
        };
        let condition = match args.rm {
            true => WaitCondition::Removed,
            false => WaitCondition::NextExit,
        };
        let waiter = {
            let client = client.clone();
            let id = id.clone();
            tokio::spawn(async move { client.wait_container(&id, condition).await })
        };
        if args.interactive || args.tty {
            let opts = AttachOptions {
                stdin: args.interactive,
                ..opts
            };
            let session = client
                .attach_session(&id, opts, args.tty)
                .await
                .with_context(|| format!("attaching to {id}"))?;
            client
                .start_container(&id)
                .await
                .with_context(|| format!("starting {id}"))?;
            return super::attach::follow(
                &client,
                &id,
                session,
                args.tty,
                args.interactive,
                waiter,
            )
            .await;
        }
        let output = client
            .attach_container(&id, opts)
            .await
            .with_context(|| format!("attaching to {id}"))?;
        client
            .start_container(&id)
            .await
            .with_context(|| format!("starting {id}"))?;
        crate::tty::copy_output(output).await?;
        let status = waiter.await?.with_context(|| format!("waiting for {id}"))?;
        Ok(super::exit_code(status.status_code))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("4kb").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn ulimits_with_and_without_hard() {
        let u = parse_ulimit("nofile=100:200").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 100, 200));
        assert_eq!(parse_ulimit("nproc=50").unwrap().hard, 50);
        assert!(parse_ulimit("nofile").is_err());
    }
}
