//! `berth pull` and `berth images`: the project's images. [`pull_all`] is also the pull step of
//! `up`, `create` and `run` (`crate::cmd::prepare`).

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context;
use berth_compose::execute::Status;
use clap::Args;

use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::{Mode, Progress};
use crate::stack::{Stack, name_of, service_of};

/// Arguments of `berth pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Ignore images that cannot be pulled.
    #[arg(long)]
    ignore_pull_failures: bool,
    /// Progress output: auto, tty, plain, json or quiet.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    progress: String,
    /// Pull without printing progress.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Services whose images to pull (default: all).
    services: Vec<String>,
}

/// Arguments of `berth images`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only display image ids.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Output format: table or json.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    format: String,
    /// Services whose images to list (default: all).
    services: Vec<String>,
}

/// The images of `services` (all when empty), without duplicates, sorted.
fn service_images(stack: &Stack, services: &[String]) -> BTreeSet<String> {
    stack
        .project
        .images()
        .into_iter()
        .filter(|(s, _)| services.is_empty() || services.contains(s))
        .map(|(_, image)| image)
        .collect()
}

/// `image:tag` split for the pull endpoint (`latest` when untagged; digests kept whole).
pub(crate) fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, Some("latest")),
    }
}

/// Pulls `images` in parallel with progress; failures are errors unless `ignore`.
pub(crate) async fn pull_all(
    stack: &Stack,
    images: &[String],
    mode: Mode,
    ignore: bool,
) -> anyhow::Result<()> {
    let p = Progress::start(mode, "Pulling");
    let pulls = images.iter().map(|image| {
        let p = &p;
        async move {
            let resource = format!("Image {image}");
            p.send(resource.clone(), Status::Pulling, String::new());
            let (name, tag) = split_reference(image);
            let r = stack.client().pull_image(name, tag).await;
            match &r {
                Ok(_) => p.send(resource, Status::Pulled, String::new()),
                Err(e) => p.send(resource, Status::Error, e.to_string()),
            }
            r.with_context(|| format!("pulling {image}"))
        }
    });
    let results = futures_util::future::join_all(pulls).await;
    p.finish().await;
    if !ignore {
        for r in results {
            r?;
        }
    }
    Ok(())
}

/// Runs `berth pull`.
pub fn pull(args: PullArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mode = if args.quiet {
        Mode::Quiet
    } else {
        Mode::parse(&args.progress)?
    };
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        stack.check_services(&args.services)?;
        let images: Vec<String> = service_images(&stack, &args.services).into_iter().collect();
        pull_all(&stack, &images, mode, args.ignore_pull_failures).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `berth images`: the images the project's containers use.
pub fn images(args: ImagesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.format == "table" || args.format == "json",
        "invalid --format {:?}: expected table or json",
        args.format
    );
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        let containers = stack.containers(&args.services, true, false).await?;
        let mut rows = Vec::new();
        for c in &containers {
            let inspect = stack.client().inspect_image(&c.image).await.ok();
            let id = inspect
                .as_ref()
                .map_or_else(|| c.image_id.clone(), |i| i.id.clone());
            let (repo, tag) = match split_reference(&c.image) {
                (r, Some(t)) => (r.to_owned(), t.to_owned()),
                (r, None) => (r.to_owned(), String::new()),
            };
            let size = inspect.as_ref().map_or(0, |i| i.size);
            rows.push((name_of(c), repo, tag, id, size, service_of(c).to_owned()));
        }
        if args.quiet {
            let ids: BTreeSet<&str> = rows.iter().map(|r| r.3.as_str()).collect();
            for id in ids {
                outln!("{id}");
            }
        } else if args.format == "json" {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|(container, repo, tag, id, size, _)| {
                    serde_json::json!({
                        "ContainerName": container,
                        "Repository": repo,
                        "Tag": tag,
                        "ID": id,
                        "Size": size,
                    })
                })
                .collect();
            outln!("{}", serde_json::Value::Array(list));
        } else {
            outln!(
                "{:<24} {:<24} {:<10} {:<14} SIZE",
                "CONTAINER",
                "REPOSITORY",
                "TAG",
                "IMAGE ID"
            );
            for (container, repo, tag, id, size, _) in &rows {
                let short = id.trim_start_matches("sha256:");
                let short = &short[..short.len().min(12)];
                outln!(
                    "{container:<24} {repo:<24} {tag:<10} {short:<14} {}",
                    human_size(*size)
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Sizes the way docker prints them (decimal units).
fn human_size(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1_000_000_000 => format!("{:.3}GB", b / 1e9),
        n if n >= 1_000_000 => format!("{:.1}MB", b / 1e6),
        n if n >= 1_000 => format!("{:.1}kB", b / 1e3),
        n => format!("{n}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", Some("latest"))
        );
        assert_eq!(split_reference("a@sha256:00"), ("a@sha256:00", None));
    }

    #[test]
    fn sizes_print_in_decimal_units() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(human_size(4_200_000), "4.2MB");
    }
}
