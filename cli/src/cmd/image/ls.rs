//! `berth image ls`: the engine's images as a table (`REPOSITORY TAG IMAGE ID CREATED SIZE`),
//! ids only (`-q`) or JSON.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::ImageSummary;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only show image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show intermediate images too.
    #[arg(short, long)]
    all: bool,
    /// Filter (`reference=…`, `label=…`, `dangling=true`); repeatable.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Lists the engine's images.
pub fn run(args: LsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let filters = crate::cmd::flags::filters(&args.filters)?;
    let images = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .list_images(args.all, &filters)
            .await
            .context("listing images")
    })?;
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&images)?);
    } else if args.quiet {
        for image in &images {
            println!("{}", short_id(&image.id));
        }
    } else {
        print!("{}", table(&images, now()));
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The 12-character id Docker shows.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// A size as Docker prints it (`1.23MB`, decimal units).
pub fn human_size(bytes: i64) -> String {
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in ["kB", "MB", "GB", "TB"] {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    if unit == "B" {
        format!("{bytes}B")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
            + unit
    }
}

/// How long ago `then` was, as Docker words it.
pub fn ago(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "Less than a minute ago".to_owned(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 14 => (s / 86_400, "day"),
        s if s < 86_400 * 60 => (s / (86_400 * 7), "week"),
        s if s < 86_400 * 730 => (s / (86_400 * 30), "month"),
        s => (s / (86_400 * 365), "year"),
    };
    if n == 1 {
        let article = if unit == "hour" { "An" } else { "A" };
        format!("{article} {unit} ago")
    } else {
        format!("{n} {unit}s ago")
    }
}

fn table(images: &[ImageSummary], now: i64) -> String {
    let mut rows = Vec::new();
    for image in images {
        let tags: Vec<(String, String)> = if image.repo_tags.is_empty() {
            vec![("<none>".to_owned(), "<none>".to_owned())]
        } else {
            image
                .repo_tags
                .iter()
                .map(
                    |t| match t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
                        Some((repo, tag)) => (repo.to_owned(), tag.to_owned()),
                        None => (t.clone(), "<none>".to_owned()),
                    },
                )
                .collect()
        };
        for (repo, tag) in tags {
            rows.push([
                repo,
                tag,
                short_id(&image.id).to_owned(),
                ago(image.created, now),
                human_size(image.size),
            ]);
        }
    }
    crate::table::render(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(4_000_000), "4MB");
        assert_eq!(ago(100, 130), "Less than a minute ago");
        assert_eq!(ago(0, 3600), "An hour ago");
        assert_eq!(ago(0, 7200), "2 hours ago");
        assert_eq!(ago(0, 86_400 * 3), "3 days ago");
    }

    #[test]
    fn table_splits_repository_and_tag() {
        let image = ImageSummary {
            id: "sha256:0123456789abcdef0123".to_owned(),
            repo_tags: vec!["localhost:5000/app:v1".to_owned()],
            created: 0,
            size: 2_000_000,
            ..ImageSummary::default()
        };
        let out = table(&[image], 30);
        let line = out.lines().nth(1).expect("one row");
        assert!(line.starts_with("localhost:5000/app   v1"), "{out}");
        assert!(line.contains("0123456789ab"), "{out}");
        assert!(line.ends_with("2MB"), "{out}");
    }
}
