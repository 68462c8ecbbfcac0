//! The short lifecycle verbs of `berth container`: start, stop, restart, kill, rm, inspect,
//! top, pause, unpause, wait, rename. Each acts on every named container and reports each
//! failure, exiting 1 when any failed (as the docker CLI does).

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::backend::WaitCondition;
use berth_engine::client::Client;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// One or more containers.
#[derive(Debug, Args)]
pub struct Ids {
    /// Container names or ids.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Exactly one container.
#[derive(Debug, Args)]
pub struct One {
    /// Container name or id.
    container: String,
}

/// Options of `stop` and `restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short, long)]
    time: Option<i64>,
    /// Container names or ids.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Options of `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send (name or number).
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Container names or ids.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Options of `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill running containers first (`-f` is the global compose-file flag).
    #[arg(long)]
    force: bool,
    /// Remove anonymous volumes too.
    #[arg(short, long)]
    volumes: bool,
    /// Container names or ids.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Options of `rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container name or id.
    container: String,
    /// New name.
    new_name: String,
}

/// Runs `op` on each container, printing its name on success and the error otherwise.
fn each<F, Fut>(global: &GlobalArgs, ids: &[String], echo: bool, op: F) -> anyhow::Result<ExitCode>
where
    F: Fn(Client, String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut failed = false;
        for id in ids {
            match op(client.clone(), id.clone()).await {
                Ok(()) if echo => println!("{id}"),
                Ok(()) => {}
                Err(e) => {
                    eprintln!("Error: {e:#}");
                    failed = true;
                }
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// `start`.
pub fn start(a: Ids, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    each(global, &a.containers, true, |c, id| async move {
        c.start_container(&id).await.context("cannot start")
    })
}

/// `stop` or, with `restart`, `restart`.
pub fn stop(a: StopArgs, global: &GlobalArgs, restart: bool) -> anyhow::Result<ExitCode> {
    let t = a.time;
    each(global, &a.containers, true, |c, id| async move {
        match restart {
            true => c.restart_container(&id, t).await.context("cannot restart"),
            false => c.stop_container(&id, t).await.context("cannot stop"),
        }
    })
}

/// `kill`.
pub fn kill(a: KillArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let sig = a.signal.clone();
    each(global, &a.containers, true, |c, id| {
        let sig = sig.clone();
        async move {
            c.kill_container(&id, Some(&sig))
                .await
                .context("cannot kill")
        }
    })
}

/// `rm`.
pub fn rm(a: RmArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (force, volumes) = (a.force, a.volumes);
    each(global, &a.containers, true, |c, id| async move {
        c.remove_container(&id, force, volumes)
            .await
            .context("cannot remove")
    })
}

/// `pause` (`true`) or `unpause`.
pub fn pause(a: Ids, global: &GlobalArgs, freeze: bool) -> anyhow::Result<ExitCode> {
    each(global, &a.containers, true, |c, id| async move {
        match freeze {
            true => c.pause_container(&id).await.context("cannot pause"),
            false => c.unpause_container(&id).await.context("cannot unpause"),
        }
    })
}

/// `wait`: prints each exit code.
pub fn wait(a: Ids, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    each(global, &a.containers, false, |c, id| async move {
        let r = c
            .wait_container(&id, WaitCondition::NotRunning)
            .await
            .context("cannot wait")?;
        println!("{}", r.status_code);
        Ok(())
    })
}

/// `rename`.
pub fn rename(a: RenameArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let new_name = a.new_name.clone();
    each(global, &[a.container], false, |c, id| {
        let new_name = new_name.clone();
        async move {
            c.rename_container(&id, &new_name)
                .await
                .context("cannot rename")
        }
    })
}

/// `inspect`: a JSON array, as `docker inspect` prints.
pub fn inspect(a: Ids, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut all = Vec::new();
        let mut failed = false;
        for id in &a.containers {
            match client.inspect_container(id).await {
                Ok(i) => all.push(i),
                Err(e) => {
                    eprintln!("Error: {e}");
                    failed = true;
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&all)?);
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// `top`: the container's processes as a table.
pub fn top(a: One, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let top = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .top_container(&a.container)
            .await
            .with_context(|| format!("processes of {}", a.container))
    })?;
    let mut rows = vec![top.titles.clone()];
    rows.extend(top.processes.iter().cloned());
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
