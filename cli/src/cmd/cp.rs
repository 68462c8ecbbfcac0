//! `berth cp SERVICE:PATH DEST` / `berth cp SRC SERVICE:PATH`: `docker compose cp`, a copy
//! between a service container of the project (`--index N`, default the first) and the local
//! file system; the copy itself is `berth container cp`'s.

use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use crate::cmd::container::cp::{CopyOptions, Endpoint, copy};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::{Stack, name_of, number_of};

/// Arguments of `berth cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode: files copied into the container get the container user's uid/gid.
    #[arg(short, long)]
    archive: bool,
    /// Follow a symlink given as the source.
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Index of the container if the service has several replicas.
    #[arg(long, value_name = "N")]
    index: Option<u64>,
    /// Copy from or to every container of the service (the copy goes to each one).
    #[arg(long)]
    all: bool,
    /// `SERVICE:PATH` or a local path (`-` for a tar on stdin).
    src: String,
    /// `SERVICE:PATH` or a local path (`-` for a tar to stdout).
    dest: String,
}

/// Runs `berth cp`.
pub fn run(args: CpArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (src, dst) = (Endpoint::parse(&args.src), Endpoint::parse(&args.dest));
    let opts = CopyOptions {
        archive: args.archive,
        follow_link: args.follow_link,
    };
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        let (service, copy_in) = match (&src, &dst) {
            (Endpoint::Container { container, .. }, _) => (container.clone(), false),
            (_, Endpoint::Container { container, .. }) => (container.clone(), true),
            _ => bail!("one of the source and the destination must be SERVICE:PATH"),
        };
        stack.check_services(std::slice::from_ref(&service))?;
        let list = stack
            .containers(std::slice::from_ref(&service), true, false)
            .await?;
        let targets: Vec<String> = if args.all && copy_in {
            list.iter().map(name_of).collect()
        } else {
            let index = args.index.unwrap_or(1);
            match list.iter().find(|c| number_of(c) == index) {
                Some(c) => vec![name_of(c)],
                None => bail!("service {service:?} has no container #{index}"),
            }
        };
        if targets.is_empty() {
            bail!("service {service:?} has no container");
        }
        for name in targets {
            let rename = |e: &Endpoint| match e {
                Endpoint::Container { path, .. } => Endpoint::Container {
                    container: name.clone(),
                    path: path.clone(),
                },
                other => other.clone(),
            };
            copy(stack.client(), &rename(&src), &rename(&dst), opts).await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
