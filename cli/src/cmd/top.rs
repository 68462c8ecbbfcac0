//! Small read-only verbs on a project's containers: `top` (processes), `port` (the public
//! address of a published port) and `wait` (block until containers stop, return the first exit
//! code).

use std::process::ExitCode;

use anyhow::bail;
use berth_engine::backend::WaitCondition;
use clap::Args;

use crate::cmd::run::exit_code;
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::{Stack, name_of};

/// Arguments of `berth top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Services (default: all).
    services: Vec<String>,
}

/// Arguments of `berth port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Index of the container if the service has several replicas.
    #[arg(long, value_name = "N", default_value_t = 1)]
    index: u64,
    /// tcp or udp.
    #[arg(long, value_name = "PROTO", default_value = "tcp")]
    protocol: String,
    /// The service.
    service: String,
    /// The container port.
    private_port: u16,
}

/// Arguments of `berth wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Stop the project when the first container exits.
    #[arg(long)]
    down_project: bool,
    /// Services to wait for.
    #[arg(required = true)]
    services: Vec<String>,
}

/// Runs `berth top`.
pub fn top(args: TopArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        for c in stack.containers(&args.services, false, false).await? {
            let name = name_of(&c);
            let top = stack.client().top_container(&name).await?;
            outln!("{name}");
            let mut widths: Vec<usize> = top.titles.iter().map(String::len).collect();
            for p in &top.processes {
                for (w, cell) in widths.iter_mut().zip(p) {
                    *w = (*w).max(cell.len());
                }
            }
            let row = |cells: &[String]| -> anyhow::Result<()> {
                let parts: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                outln!("{}", parts.join("  ").trim_end());
                Ok(())
            };
            row(&top.titles)?;
            for p in &top.processes {
                row(p)?;
            }
            outln!();
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `berth port`.
pub fn port(args: PortArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        let c = stack.replica(&args.service, args.index).await?;
        let key = format!("{}/{}", args.private_port, args.protocol);
        let inspect = stack.client().inspect_container(&c.id).await?;
        let binding = inspect
            .network_settings
            .ports
            .get(&key)
            .and_then(|b| b.as_ref())
            .and_then(|b| b.first());
        match binding {
            Some(b) => {
                let ip = if b.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &b.host_ip
                };
                outln!("{ip}:{}", b.host_port);
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("no port {key} published for {}", name_of(&c)),
        }
    })
}

/// Runs `berth wait`: waits for the containers of `services` to stop; returns the exit code
/// of the first one that stops.
pub fn wait(args: WaitArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        let list = stack.containers(&args.services, true, false).await?;
        if list.is_empty() {
            bail!("no containers for {}", args.services.join(", "));
        }
        let client = stack.client();
        let waits = list.iter().map(|c| {
            let id = c.id.clone();
            Box::pin(async move {
                client
                    .wait_container(&id, WaitCondition::NotRunning)
                    .await
                    .map(|r| r.status_code)
            })
        });
        let (first, _, _) = futures_util::future::select_all(waits).await;
        let code = first?;
        if args.down_project {
            let all = stack.containers(&[], false, false).await?;
            crate::cmd::up::stop_all(&stack, &all, None, false).await;
        }
        Ok(exit_code(code))
    })
}
