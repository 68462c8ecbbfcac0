//! `berth push [SERVICE…]`: pushes the images of the project's services, as `docker compose
//! push`: every service with both `image:` and a `build:` section pushes its `image:` and its
//! extra `build.tags`; other services are skipped. Logins come from `berth login`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use berth_compose::model::Project;
use clap::Args;

use crate::cmd::image::push::push_reference;
use crate::cmd::prepare::selection;
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::Stack;

/// Arguments of `berth push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push what can be pushed, reporting the failures without failing.
    #[arg(long)]
    ignore_push_failures: bool,
    /// Also push the images of the services the named ones depend on.
    #[arg(long)]
    include_deps: bool,
    /// Push without printing progress.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Services whose images to push (default: all).
    services: Vec<String>,
}

/// `(service, reference)` for every image to push, in service order.
pub fn push_list(
    project: &Project,
    services: &[String],
    include_deps: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in selection(project, services, !include_deps) {
        let service = &project.services[&name];
        let (Some(image), Some(build)) = (&service.image, &service.build) else {
            continue;
        };
        for tag in std::iter::once(image).chain(&build.tags) {
            out.push((name.clone(), tag.clone()));
        }
    }
    out
}

/// Runs `berth push`.
pub fn run(args: PushArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        stack.check_services(&args.services)?;
        let list = push_list(&stack.project, &args.services, args.include_deps);
        let mut failed = 0;
        for (service, reference) in &list {
            let prefix = format!("{reference}: ");
            let r = push_reference(stack.client(), reference, args.quiet, &prefix)
                .await
                .with_context(|| format!("service {service}: pushing {reference}"));
            match r {
                Ok(()) => {}
                Err(e) if args.ignore_push_failures => {
                    eprintln!("WARN {e:#}");
                    failed += 1;
                }
                Err(e) => return Err(e),
            }
        }
        if list.is_empty() && !args.quiet {
            eprintln!("nothing to push: no service has both `image:` and `build:`");
        }
        if failed > 0 {
            eprintln!(
                "{failed} of {} pushes failed (--ignore-push-failures)",
                list.len()
            );
        }
        if !args.ignore_push_failures && failed > 0 {
            bail!("push failed");
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_services_with_image_and_build_push_every_tag() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  app:\n    image: reg/app:1\n    build:\n      context: .\n      tags: [reg/app:latest]\n    depends_on: [lib]\n  lib: {image: reg/lib, build: .}\n  plain: {image: x}\n  local: {build: .}\n",
        )
        .expect("write compose file");
        let opts = berth_compose::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("p".into()),
            ..berth_compose::LoadOptions::default()
        };
        let project = berth_compose::load_project(&opts).expect("load").project;
        let pairs = |l: Vec<(String, String)>| {
            l.into_iter()
                .map(|(s, r)| format!("{s}={r}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pairs(push_list(&project, &[], false)),
            ["app=reg/app:1", "app=reg/app:latest", "lib=reg/lib"]
        );
        assert_eq!(
            pairs(push_list(&project, &["app".into()], false)),
            ["app=reg/app:1", "app=reg/app:latest"]
        );
        assert_eq!(
            pairs(push_list(&project, &["app".into()], true)),
            ["app=reg/app:1", "app=reg/app:latest", "lib=reg/lib"]
        );
    }
}
