//! `berth container ps`: containers as Docker's table, ids only (`-q`) or JSON.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::ContainerSummary;
use berth_engine::backend::ListContainersOptions;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show stopped containers too.
    #[arg(short, long)]
    all: bool,
    /// Only show ids.
    #[arg(short, long)]
    quiet: bool,
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Lists containers.
pub fn run(args: PsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let opts = ListContainersOptions {
        all: args.all,
        ..ListContainersOptions::default()
    };
    let list = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .list_containers(&opts)
            .await
            .context("listing containers")
    })?;
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else if args.quiet {
        for c in &list {
            println!("{}", &c.id[..c.id.len().min(12)]);
        }
    } else {
        print!("{}", table(&list));
    }
    Ok(ExitCode::SUCCESS)
}

/// Docker's `ps` table.
fn table(list: &[ContainerSummary]) -> String {
    let mut rows = Vec::new();
    for c in list {
        let mut cmd = c.command.clone();
        if cmd.chars().count() > 20 {
            cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
        }
        rows.push([
            c.id.chars().take(12).collect(),
            c.image.clone(),
            format!("\"{cmd}\""),
            c.status.clone(),
            c.names
                .iter()
                .map(|n| n.trim_start_matches('/'))
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    crate::table::render(
        ["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_dockers_columns_and_short_ids() {
        let c = ContainerSummary {
            id: "a".repeat(64),
            image: "busybox".into(),
            command: "sleep 300".into(),
            status: "Up 2 seconds".into(),
            names: vec!["/web".into()],
            ..ContainerSummary::default()
        };
        let t = table(&[c]);
        let mut lines = t.lines();
        assert!(lines.next().unwrap().starts_with("CONTAINER ID   IMAGE"));
        let row = lines.next().unwrap();
        assert!(
            row.starts_with(&"a".repeat(12)) && row.ends_with("web"),
            "{row}"
        );
        assert!(row.contains("\"sleep 300\""), "{row}");
    }
}
