//! `berth down`: stop and remove the project's containers (dependents first), then its
//! networks, with `-v` its named volumes, with `--rmi` its images. Works from the engine's
//! labels alone with `-p NAME` when there is no compose file.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::bail;
use berth_compose::execute::{Status, execute, observe};
use berth_compose::plan::{DownOptions, labels, plan_down};
use clap::Args;

use crate::cmd::up::ProgressArgs;
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::{Mode, Progress};
use crate::stack::Stack;

/// Arguments of `berth down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove the named volumes of the project and anonymous volumes of its containers.
    #[arg(short = 'v', long)]
    volumes: bool,
    /// Remove images used by services: `local` (those without a custom tag) or `all`.
    #[arg(long, value_name = "TYPE")]
    rmi: Option<String>,
    /// Remove containers of services not in the compose file.
    #[arg(long)]
    remove_orphans: bool,
    /// Shutdown timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<u64>,
    #[command(flatten)]
    progress: ProgressArgs,
}

/// Runs `berth down`.
pub fn run(args: DownArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Some(r) = &args.rmi
        && r != "local"
        && r != "all"
    {
        bail!("invalid --rmi {r:?}: expected local or all");
    }
    let mode = Mode::parse(&args.progress.progress)?;
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        let name = &stack.project.name;
        let observed = observe(&stack.engine, name).await?;
        let options = DownOptions {
            volumes: args.volumes,
            // Without a compose file every container of the project is removed.
            remove_orphans: args.remove_orphans || !stack.has_file,
            timeout_s: args.timeout,
        };
        if !stack.has_file {
            // Only the engine knows the project's networks and volumes: take them all.
            let mut project = stack.project.clone();
            for n in &observed.networks {
                project.networks.insert(
                    n.key.clone(),
                    berth_compose::model::Network {
                        name: n.name.clone(),
                        ..Default::default()
                    },
                );
            }
            for v in &observed.volumes {
                project.volumes.insert(
                    v.key.clone(),
                    berth_compose::model::Volume {
                        name: v.name.clone(),
                        ..Default::default()
                    },
                );
            }
            return finish(&stack, &project, &observed, &options, &args, mode).await;
        }
        let project = stack.project.clone();
        finish(&stack, &project, &observed, &options, &args, mode).await
    })
}

async fn finish(
    stack: &Stack,
    project: &berth_compose::model::Project,
    observed: &berth_compose::plan::Observed,
    options: &DownOptions,
    args: &DownArgs,
    mode: Mode,
) -> anyhow::Result<ExitCode> {
    let images: BTreeSet<String> = match args.rmi.as_deref() {
        Some(kind) => observed
            .containers
            .iter()
            .filter_map(|c| {
                let service = c.labels.get(labels::SERVICE)?;
                let custom = project
                    .services
                    .get(service)
                    .is_some_and(|s| s.image.is_some());
                (kind == "all" || !custom).then(|| image_of(project, service))
            })
            .flatten()
            .collect(),
        None => BTreeSet::new(),
    };
    let plan = plan_down(project, observed, options);
    for w in &plan.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if args.progress.dry_run {
        outln!("{}", plan.to_string().trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let p = Progress::start(mode, "Running");
    let result = execute(&plan, &stack.engine, &p.sender()).await;
    if result.is_ok() {
        remove_images(stack, &images, &p).await;
    }
    p.finish().await;
    result?;
    Ok(ExitCode::SUCCESS)
}

fn image_of(project: &berth_compose::model::Project, service: &str) -> Option<String> {
    project
        .images()
        .into_iter()
        .find(|(s, _)| s == service)
        .map(|(_, i)| i)
}

async fn remove_images(stack: &Stack, images: &BTreeSet<String>, p: &Progress) {
    for image in images {
        let resource = format!("Image {image}");
        p.send(resource.clone(), Status::Removing, String::new());
        match stack.client().remove_image(image, false).await {
            Ok(()) => p.send(resource, Status::Removed, String::new()),
            Err(e) => p.send(resource, Status::Error, e.to_string()),
        }
    }
}
