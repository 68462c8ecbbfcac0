//! `berth ps`: the project's containers as `docker compose ps` shows them (table or JSON),
//! `-q` ids, `--services` names, filtered by `--status` / `--filter status=…`.

use std::process::ExitCode;

use anyhow::bail;
use berth_engine::api::models::ContainerSummary;
use clap::Args;

use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::{Stack, name_of, service_of};

/// Arguments of `berth ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, stopped ones too.
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display ids.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display services.
    #[arg(long)]
    services: bool,
    /// Filter by status (repeatable): created, restarting, running, removing, paused, exited, dead.
    #[arg(long, value_name = "STATUS")]
    status: Vec<String>,
    /// Filter by a property (`status=running`, `source=…` is not supported).
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
    /// Format: table or json.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    format: String,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Services to list (default: all).
    #[arg(value_name = "SERVICE")]
    selected: Vec<String>,
}

const STATUSES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// The statuses asked for by `--status` and `--filter status=…`.
fn wanted_statuses(args: &PsArgs) -> anyhow::Result<Vec<String>> {
    let mut out = args.status.clone();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("status", s)) => out.push(s.to_owned()),
            _ => bail!("invalid --filter {f:?}: only status=STATUS is supported"),
        }
    }
    if let Some(bad) = out.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        bail!(
            "invalid status {bad:?}: expected one of {}",
            STATUSES.join(", ")
        );
    }
    Ok(out)
}

/// Ports the way docker prints them (`0.0.0.0:8080->80/tcp`, `80/tcp`).
pub fn ports_text(c: &ContainerSummary) -> String {
    let items: Vec<String> = c
        .ports
        .iter()
        .map(|p| match (p.public_port, &p.ip) {
            (Some(public), ip) => format!(
                "{}:{public}->{}/{}",
                ip.as_deref().unwrap_or("0.0.0.0"),
                p.private_port,
                p.typ
            ),
            (None, _) => format!("{}/{}", p.private_port, p.typ),
        })
        .collect();
    items.join(", ")
}

fn quoted_command(c: &ContainerSummary, no_trunc: bool) -> String {
    let cmd = if !no_trunc && c.command.chars().count() > 20 {
        let short: String = c.command.chars().take(19).collect();
        format!("{short}…")
    } else {
        c.command.clone()
    };
    format!("\"{cmd}\"")
}

/// Runs `berth ps`.
pub fn run(args: PsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if args.format != "table" && args.format != "json" {
        bail!("invalid --format {:?}: expected table or json", args.format);
    }
    let statuses = wanted_statuses(&args)?;
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.selected)?;
        let all = args.all || !statuses.is_empty();
        let mut list = stack.containers(&args.selected, all, true).await?;
        if !statuses.is_empty() {
            list.retain(|c| statuses.contains(&c.state));
        }
        if args.services {
            let mut seen: Vec<&str> = Vec::new();
            for c in &list {
                if !seen.contains(&service_of(c)) {
                    seen.push(service_of(c));
                    outln!("{}", service_of(c));
                }
            }
        } else if args.quiet {
            for c in &list {
                outln!("{}", c.id);
            }
        } else if args.format == "json" {
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "ID": c.id,
                        "Name": name_of(c),
                        "Image": c.image,
                        "Command": c.command,
                        "Project": stack.project.name,
                        "Service": service_of(c),
                        "Created": c.created,
                        "State": c.state,
                        "Status": c.status,
                        "Health": health_word(&c.status),
                        "ExitCode": exit_code(&c.status),
                        "Publishers": c.ports.iter().map(|p| serde_json::json!({
                            "URL": p.ip.clone().unwrap_or_default(),
                            "TargetPort": p.private_port,
                            "PublishedPort": p.public_port.unwrap_or(0),
                            "Protocol": p.typ,
                        })).collect::<Vec<_>>(),
                        "Labels": c.labels,
                    })
                })
                .collect();
            outln!("{}", serde_json::Value::Array(rows));
        } else {
            print_table(&list, args.no_trunc)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn health_word(status: &str) -> &'static str {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

fn exit_code(status: &str) -> i64 {
    status
        .strip_prefix("Exited (")
        .and_then(|r| r.split(')').next())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn print_table(list: &[ContainerSummary], no_trunc: bool) -> anyhow::Result<()> {
    let rows: Vec<[String; 6]> = list
        .iter()
        .map(|c| {
            [
                name_of(c),
                c.image.clone(),
                quoted_command(c, no_trunc),
                service_of(c).to_owned(),
                c.status.clone(),
                ports_text(c),
            ]
        })
        .collect();
    let text = crate::table::render(
        ["NAME", "IMAGE", "COMMAND", "SERVICE", "STATUS", "PORTS"],
        &rows,
    );
    outln!("{}", text.trim_end_matches('\n'));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::api::models::Port;

    #[test]
    fn ports_and_status_words_read_like_docker() {
        let c = ContainerSummary {
            ports: vec![
                Port {
                    ip: Some("0.0.0.0".into()),
                    private_port: 80,
                    public_port: Some(8080),
                    typ: "tcp".into(),
                },
                Port {
                    ip: None,
                    private_port: 53,
                    public_port: None,
                    typ: "udp".into(),
                },
            ],
            ..ContainerSummary::default()
        };
        assert_eq!(ports_text(&c), "0.0.0.0:8080->80/tcp, 53/udp");
        assert_eq!(health_word("Up 2 seconds (healthy)"), "healthy");
        assert_eq!(exit_code("Exited (3) 2 seconds ago"), 3);
    }
}
