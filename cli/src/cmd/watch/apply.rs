//! Applying a watch plan through the engine, the way docker compose does: one tar archive
//! per container and batch (`PUT /containers/{id}/archive` at `/`), deletions as
//! `rm -rf -- PATHS` exec'd in the container, restarts and `sync+exec` commands through the
//! API, rebuilds as `berth build` of the service followed by a forced recreate of its
//! containers. Steps of one kind run concurrently across replicas; one line is printed per
//! finished action.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use berth_compose::plan::PlanOptions;
use berth_compose::watch::{Change, Copy, ExecSpec, Step, WatchPlan};
use berth_engine::api::models::ExecConfig;
use berth_engine::client::Client;
use futures_util::StreamExt as _;

use crate::cmd::build::{ServiceBuildOptions, build_services, image_name};
use crate::cmd::up::{ProgressArgs, converge, plan_options};
use crate::stack::{Stack, name_of, service_of};

/// How the applier reports and cleans up.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Hide build output and the output of `sync+exec` commands.
    pub quiet: bool,
    /// Remove the image a rebuild replaced when nothing uses it any more.
    pub prune: bool,
}

/// What is at each changed path now.
pub fn observe_changes(paths: &[PathBuf]) -> Vec<Change> {
    paths
        .iter()
        .map(|p| match std::fs::symlink_metadata(p) {
            Ok(m) => Change::Present {
                path: p.clone(),
                dir: m.is_dir(),
            },
            Err(_) => Change::Missing { path: p.clone() },
        })
        .collect()
}

/// The running containers of `services`, by service.
pub async fn replicas(
    stack: &Stack,
    services: &[String],
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in stack.containers(services, false, false).await? {
        out.entry(service_of(&c).to_owned())
            .or_default()
            .push(name_of(&c));
    }
    Ok(out)
}

/// The archive of `copies`, entries named by their container path (relative to `/`). Files
/// that vanished since they were seen are left out (an editor's temporary file).
pub fn archive(copies: &[Copy]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    for c in copies {
        let name = c.container.trim_start_matches('/');
        let name = if name.is_empty() { "." } else { name };
        let r = if c.dir {
            tar.append_dir(name, &c.host)
        } else {
            tar.append_path_with_name(&c.host, name)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("reading {} to sync", c.host.display()));
            }
        }
    }
    tar.into_inner().context("finishing the sync archive")
}

/// Runs `plan`, printing one line per finished action; keeps going after a failed step and
/// returns the failures together.
pub async fn apply(stack: &Stack, plan: &WatchPlan, options: ApplyOptions) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    let mut i = 0;
    while i < plan.steps.len() {
        let kind = std::mem::discriminant(&plan.steps[i]);
        let end = plan.steps[i..]
            .iter()
            .position(|s| std::mem::discriminant(s) != kind)
            .map_or(plan.steps.len(), |n| i + n);
        let group = &plan.steps[i..end];
        i = end;
        if let Step::Rebuild { .. } = group[0] {
            for step in group {
                match run_step(stack, step, None, options).await {
                    Ok(()) => println!("{}", step.summary()),
                    Err(e) => errors.push(e),
                }
            }
            continue;
        }
        let tar = match &group[0] {
            Step::Sync { copies, .. } if !copies.is_empty() => Some(archive(copies)?),
            _ => None,
        };
        let results = futures_util::future::join_all(
            group
                .iter()
                .map(|step| run_step(stack, step, tar.as_deref(), options)),
        )
        .await;
        for (step, r) in group.iter().zip(results) {
            match r {
                Ok(()) => println!("{}", step.summary()),
                Err(e) => errors.push(e),
            }
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => bail!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

async fn run_step(
    stack: &Stack,
    step: &Step,
    tar: Option<&[u8]>,
    options: ApplyOptions,
) -> anyhow::Result<()> {
    let client = stack.client();
    match step {
        Step::Sync {
            container,
            copies,
            deletes,
            ..
        } => {
            // Copies and deletions never name the same path (a path is either there or
            // gone), so both go at once.
            let delete = async {
                if deletes.is_empty() {
                    return Ok(());
                }
                let mut cmd = vec!["rm", "-rf", "--"];
                cmd.extend(deletes.iter().map(String::as_str));
                let out = client
                    .exec(container, &cmd)
                    .await
                    .with_context(|| format!("deleting synced paths in {container}"))?;
                if out.exit_code != 0 {
                    bail!(
                        "deleting {} in {container} failed (exit {})",
                        deletes.join(" "),
                        out.exit_code
                    );
                }
                Ok(())
            };
            let copy = async {
                if copies.is_empty() {
                    return Ok(());
                }
                let tar = tar.map(<[u8]>::to_vec).unwrap_or_default();
                client
                    .put_archive(container, "/", tar)
                    .await
                    .with_context(|| format!("syncing files to {container}"))
            };
            let (deleted, copied) = tokio::join!(delete, copy);
            deleted.and(copied)
        }
        Step::Restart { container, .. } => client
            .restart_container(container, None)
            .await
            .with_context(|| format!("restarting {container}")),
        Step::Exec {
            container, exec, ..
        } => run_exec(client, container, exec, options.quiet).await,
        Step::Rebuild { service } => rebuild(stack, service, options).await,
    }
}

async fn run_exec(
    client: &Client,
    container: &str,
    exec: &ExecSpec,
    quiet: bool,
) -> anyhow::Result<()> {
    let config = ExecConfig {
        attach_stdout: true,
        attach_stderr: true,
        cmd: exec.command.clone(),
        env: exec.environment.clone(),
        user: exec.user.clone().unwrap_or_default(),
        working_dir: exec.working_dir.clone().unwrap_or_default(),
        privileged: exec.privileged,
        ..ExecConfig::default()
    };
    let created = client
        .create_exec(container, &config)
        .await
        .with_context(|| format!("creating the watch exec in {container}"))?;
    let mut output = client.start_exec(&created.id, false).await?;
    while let Some(piece) = output.next().await {
        if !quiet {
            crate::tty::print_output(&piece?);
        }
    }
    let code = client.inspect_exec(&created.id).await?.exit_code;
    if code != Some(0) {
        bail!(
            "`{}` in {container} failed (exit {})",
            exec.command.join(" "),
            code.unwrap_or(-1)
        );
    }
    Ok(())
}

/// Builds the service's image again and recreates its containers on it.
async fn rebuild(stack: &Stack, service: &str, options: ApplyOptions) -> anyhow::Result<()> {
    let client = stack.client();
    let project = &stack.project;
    let svc = project
        .services
        .get(service)
        .with_context(|| format!("no such service: {service}"))?;
    let image = image_name(project, service, svc);
    let old = client.inspect_image(&image).await.ok().map(|i| i.id);
    let build = ServiceBuildOptions {
        quiet: options.quiet,
        ..ServiceBuildOptions::default()
    };
    build_services(project, &[service.to_owned()], client, &build)
        .await
        .with_context(|| format!("rebuilding {service}"))?;
    let plan = PlanOptions {
        no_deps: true,
        force_recreate: true,
        ..plan_options(stack, &[service.to_owned()])
    };
    let progress = ProgressArgs {
        progress: if options.quiet { "quiet" } else { "auto" }.to_owned(),
        dry_run: false,
    };
    converge(stack, &plan, &progress, "Recreating")
        .await
        .with_context(|| format!("recreating {service}"))?;
    if options.prune
        && let Some(old) = old
        && client.inspect_image(&image).await.ok().map(|i| i.id) != Some(old.clone())
    {
        // The old image may still be used by another service or container: then it stays.
        if client.remove_image(&old, false).await.is_ok() {
            println!("removed the replaced image {old} of {service}");
        }
    }
    Ok(())
}
