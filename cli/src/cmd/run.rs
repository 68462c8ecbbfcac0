//! `berth run` (a one-off container of a service, labelled `oneoff`) and `berth exec` (a
//! command in a running service container). Both print the command's output and return its
//! exit code, like `docker compose run` / `exec`. Standard input is not forwarded.

use std::process::ExitCode;

use anyhow::{Context, bail};
use berth_compose::engine_api::{EngineApi, MountSpec, PortSpec};
use berth_compose::plan::{PlanOptions, container_spec, labels};
use berth_engine::api::models::ExecConfig;
use berth_engine::backend::{AttachOptions, WaitCondition};
use berth_engine::client::Client;
use clap::Args;
use futures_util::StreamExt;

use crate::cmd::prepare::{BuildPolicy, prepare_images};
use crate::cmd::up::{ProgressArgs, converge, plan_options};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::Mode;
use crate::stack::{Stack, name_of};

/// Arguments of `berth exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Disable pseudo-TTY allocation (one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Run as this user.
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    env: Vec<String>,
    /// Index of the container if the service has several replicas.
    #[arg(long, value_name = "N", default_value_t = 1)]
    index: u64,
    /// Give extended privileges to the process.
    #[arg(long)]
    privileged: bool,
    /// The service.
    service: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Arguments of `berth run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run the container in the background and print its name.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Name of the container.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    env: Vec<String>,
    /// Add labels.
    #[arg(short = 'l', long = "label", value_name = "KEY=VAL")]
    label: Vec<String>,
    /// Publish a port (`HOST:CONTAINER[/PROTO]`; `-p` is the project name).
    #[arg(long = "publish", value_name = "PORT")]
    publish: Vec<String>,
    /// Publish the service's ports.
    #[arg(long)]
    service_ports: bool,
    /// Don't start linked services.
    #[arg(long)]
    no_deps: bool,
    /// Run as this user.
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long, value_name = "CMD")]
    entrypoint: Option<String>,
    /// Bind-mount a volume (`SOURCE:TARGET[:ro]`).
    #[arg(short = 'v', long = "volume", value_name = "VOLUME")]
    volume: Vec<String>,
    /// Disable pseudo-TTY allocation (one is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Pull images: always, missing, never.
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: String,
    /// Build the service's image (and its dependencies') before starting the container.
    #[arg(long)]
    build: bool,
    /// Remove containers of services not in the compose file.
    #[arg(long)]
    remove_orphans: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// The service.
    service: String,
    /// Command and arguments (default: the service's command).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// An exit code as the process's own.
pub fn exit_code(code: i64) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// Runs `berth exec`.
pub fn exec(args: ExecArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    // As `docker compose exec`: a terminal (and stdin) when ours is one, unless -T.
    let tty = !args.no_tty && !args.detach && crate::tty::stdin_is_terminal();
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        let c = stack.replica(&args.service, args.index).await?;
        let config = ExecConfig {
            attach_stdout: !args.detach,
            attach_stderr: !args.detach,
            env: args.env.clone(),
            cmd: args.command.clone(),
            working_dir: args.workdir.clone().unwrap_or_default(),
            user: args.user.clone().unwrap_or_default(),
            privileged: args.privileged,
            tty,
            attach_stdin: tty,
        };
        let client = stack.client();
        let created = client
            .create_exec(&c.id, &config)
            .await
            .with_context(|| format!("creating an exec in {}", name_of(&c)))?;
        if tty {
            return crate::cmd::container::exec::interactive(client, &created.id, true, true).await;
        }
        let mut output = client.start_exec(&created.id, false).await?;
        if args.detach {
            return Ok(ExitCode::SUCCESS);
        }
        while let Some(piece) = output.next().await {
            crate::tty::print_output(&piece?);
        }
        let inspect = client.inspect_exec(&created.id).await?;
        Ok(exit_code(inspect.exit_code.unwrap_or(-1)))
    })
}

fn random_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos ^ u128::from(std::process::id()).rotate_left(64)) as u64;
    format!("{:012x}", mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16)
}

/// Parses `-p HOST:CONTAINER[/PROTO]` (or `CONTAINER[/PROTO]`).
fn parse_port(text: &str) -> anyhow::Result<PortSpec> {
    let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let (published, target) = match ports.rsplit_once(':') {
        Some((host, target)) => (Some(host.to_owned()), target),
        None => (None, ports),
    };
    let (host_ip, published) = match published.as_deref().and_then(|p| p.rsplit_once(':')) {
        Some((ip, port)) => (Some(ip.to_owned()), Some(port.to_owned())),
        None => (None, published),
    };
    let target = target
        .parse()
        .with_context(|| format!("invalid port {text:?}: expected HOST:CONTAINER[/PROTO]"))?;
    Ok(PortSpec {
        target,
        protocol: protocol.to_owned(),
        host_ip,
        published,
    })
}

/// Parses `-v SOURCE:TARGET[:ro]`.
fn parse_volume(stack: &Stack, text: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, ro) = match parts.as_slice() {
        [t] => (None, *t, false),
        [s, t] => (Some(*s), *t, false),
        [s, t, mode] => (Some(*s), *t, mode.split(',').any(|m| m == "ro")),
        _ => bail!("invalid volume {text:?}: expected SOURCE:TARGET[:ro]"),
    };
    let kind = match source {
        Some(s) if s.starts_with('/') || s.starts_with('.') => "bind",
        _ => "volume",
    };
    let source = source.map(|s| {
        if s.starts_with('.') {
            stack.project.working_dir.join(s).display().to_string()
        } else {
            s.to_owned()
        }
    });
    Ok(MountSpec {
        kind: kind.to_owned(),
        source,
        target: target.to_owned(),
        read_only: ro,
        create_host_path: kind == "bind",
        ..MountSpec::default()
    })
}

/// Runs `berth run`.
pub fn run(args: RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(run_async(args, global))
}

async fn run_async(args: RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let stack = Stack::open(global).await?;
    stack.check_services(std::slice::from_ref(&args.service))?;
    let Some(service) = stack.project.services.get(&args.service) else {
        bail!(
            "service {:?} is not active (enable its profile)",
            args.service
        );
    };
    let mode = Mode::parse(&args.progress.progress)?;
    let build = BuildPolicy::from_flags(args.build, false);
    let image_ids = prepare_images(
        &stack,
        std::slice::from_ref(&args.service),
        args.no_deps,
        (&args.pull, build),
        mode,
    )
    .await?;
    // Dependencies come up first, like `up -d` of the service's dependencies.
    let deps: Vec<String> = service.depends_on.keys().cloned().collect();
    if !args.no_deps && !deps.is_empty() {
        let options = PlanOptions {
            remove_orphans: args.remove_orphans,
            image_ids: image_ids.clone(),
            ..plan_options(&stack, &deps)
        };
        converge(&stack, &options, &args.progress, "Running").await?;
    }
    let options = PlanOptions {
        image_ids,
        ..plan_options(&stack, &[])
    };
    let mut spec = container_spec(&stack.project, service, 1, &options);
    spec.name = args.name.clone().unwrap_or_else(|| {
        format!(
            "{}-{}-run-{}",
            stack.project.name,
            args.service,
            random_suffix()
        )
    });
    spec.labels.insert(labels::ONEOFF.into(), "True".into());
    spec.labels.remove(labels::NUMBER);
    for l in &args.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        spec.labels.insert(k.to_owned(), v.to_owned());
    }
    if !args.command.is_empty() {
        spec.command = Some(args.command.clone());
    }
    if let Some(e) = &args.entrypoint {
        spec.entrypoint = Some(vec![e.clone()]);
    }
    for e in &args.env {
        let key = e.split('=').next().unwrap_or(e);
        spec.env.retain(|x| x.split('=').next() != Some(key));
        spec.env.push(e.clone());
    }
    if let Some(u) = &args.user {
        spec.user = Some(u.clone());
    }
    if let Some(w) = &args.workdir {
        spec.working_dir = Some(w.clone());
    }
    if !args.service_ports {
        spec.ports.clear();
    }
    for p in &args.publish {
        spec.ports.push(parse_port(p)?);
    }
    for v in &args.volume {
        spec.mounts.push(parse_volume(&stack, v)?);
    }
    spec.restart = None;
    // As `docker compose run`: a terminal (and stdin) when ours is one, unless -T.
    let tty = !args.no_tty && !args.detach && crate::tty::stdin_is_terminal();
    if tty {
        spec.tty = true;
        spec.stdin_open = true;
    }
    if args.progress.dry_run {
        outln!("create {}", spec.name);
        return Ok(ExitCode::SUCCESS);
    }
    let engine = &stack.engine;
    let id = engine.create_container(&spec).await?;
    let client = stack.client();
    if args.detach {
        engine.start_container(&id).await?;
        outln!("{}", spec.name);
        return Ok(ExitCode::SUCCESS);
    }
    if tty {
        let result = interactive(client, &id).await;
        let running = client
            .inspect_container(&id)
            .await
            .is_ok_and(|c| c.state.running);
        if args.rm && !running {
            client
                .remove_container(&id, true, true)
                .await
                .with_context(|| format!("removing {}", spec.name))?;
        }
        return result;
    }
    let code = attach_and_wait(client, &id).await;
    if args.rm {
        client
            .remove_container(&id, true, true)
            .await
            .with_context(|| format!("removing {}", spec.name))?;
    }
    Ok(exit_code(code?))
}

/// Runs a created container with a terminal on ours and exits with its code.
async fn interactive(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let waiter = {
        let client = client.clone();
        let id = id.to_owned();
        tokio::spawn(async move { client.wait_container(&id, WaitCondition::NextExit).await })
    };
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        logs: false,
    };
    let session = client.attach_session(id, opts, true).await?;
    client.start_container(id).await?;
    crate::cmd::container::attach::follow(client, id, session, true, true, waiter).await
}

/// Attaches to a created container, starts it, prints its output and returns its exit code.
async fn attach_and_wait(client: &Client, id: &str) -> anyhow::Result<i64> {
    let opts = AttachOptions {
        stdin: false,
        stdout: true,
        stderr: true,
        logs: true,
    };
    let mut output = client.attach_container(id, opts).await?;
    client.start_container(id).await?;
    while let Some(piece) = output.next().await {
        match piece {
            Ok(p) => crate::tty::print_output(&p),
            Err(_) => break,
        }
    }
    let r = client.wait_container(id, WaitCondition::NotRunning).await?;
    Ok(r.status_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_flags_parse_like_docker() {
        let p = parse_port("8080:80").unwrap();
        assert_eq!((p.target, p.published.as_deref()), (80, Some("8080")));
        let p = parse_port("127.0.0.1:53:53/udp").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.protocol, "udp");
        assert!(parse_port("x:y").is_err());
    }

    #[test]
    fn one_off_names_get_a_fresh_suffix() {
        let a = random_suffix();
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
