//! `berth events` (the engine's container events for the project, live) and `berth ls` (every
//! compose project the engine knows, from its containers' labels).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use berth_compose::plan::labels;
use berth_engine::api::models::{EventMessage, Filters};
use berth_engine::backend::ListContainersOptions;
use clap::Args;
use futures_util::StreamExt;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;
use crate::stack::Stack;

/// Arguments of `berth events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output events as a stream of JSON objects.
    #[arg(long)]
    json: bool,
    /// Services (default: all).
    services: Vec<String>,
}

/// Arguments of `berth ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show stopped projects too.
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display project names.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Format: table or json.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    format: String,
}

/// The line `docker compose events` prints for one event.
fn event_line(e: &EventMessage, json: bool) -> String {
    let attrs = &e.actor.attributes;
    let service = attrs.get(labels::SERVICE).cloned().unwrap_or_default();
    if json {
        let mut rest: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in attrs {
            if !k.starts_with("com.docker.compose.") {
                rest.insert(k, v);
            }
        }
        return serde_json::json!({
            "time": e.time,
            "type": e.typ,
            "action": e.action,
            "id": e.actor.id,
            "service": service,
            "attributes": rest,
        })
        .to_string();
    }
    let name = attrs.get("name").cloned().unwrap_or_default();
    format!(
        "{} {} {} {} (name={name}, service={service})",
        e.time, e.typ, e.action, e.actor.id
    )
}

/// Runs `berth events`.
pub fn events(args: EventsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        let filters = Filters::default().with("type", "container").with(
            "label",
            &format!("{}={}", labels::PROJECT, stack.project.name),
        );
        let mut stream = stack.client().events(&filters, None, None).await?;
        while let Some(e) = stream.next().await {
            let e = e.context("reading the engine's events")?;
            let service = e.actor.attributes.get(labels::SERVICE);
            if !args.services.is_empty() && !service.is_some_and(|s| args.services.contains(s)) {
                continue;
            }
            outln!("{}", event_line(&e, args.json));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One project of `ls`: name, container states, compose files.
#[derive(Debug, Default)]
struct ProjectRow {
    states: BTreeMap<String, usize>,
    files: String,
}

impl ProjectRow {
    fn status(&self) -> String {
        let parts: Vec<String> = self
            .states
            .iter()
            .map(|(state, n)| format!("{state}({n})"))
            .collect();
        parts.join(", ")
    }
}

/// Runs `berth ls`.
pub fn ls(args: LsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if args.format != "table" && args.format != "json" {
        bail!("invalid --format {:?}: expected table or json", args.format);
    }
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let opts = ListContainersOptions {
            all: args.all,
            limit: None,
            filters: Filters::default().with("label", labels::PROJECT),
        };
        let list = client.list_containers(&opts).await?;
        let mut projects: BTreeMap<String, ProjectRow> = BTreeMap::new();
        for c in &list {
            let Some(name) = c.labels.get(labels::PROJECT) else {
                continue;
            };
            let row = projects.entry(name.clone()).or_default();
            *row.states.entry(c.state.clone()).or_default() += 1;
            if let Some(f) = c.labels.get(labels::CONFIG_FILES) {
                row.files = f.clone();
            }
        }
        if args.quiet {
            for name in projects.keys() {
                outln!("{name}");
            }
        } else if args.format == "json" {
            let rows: Vec<serde_json::Value> = projects
                .iter()
                .map(|(name, row)| {
                    serde_json::json!({
                        "Name": name,
                        "Status": row.status(),
                        "ConfigFiles": row.files,
                    })
                })
                .collect();
            outln!("{}", serde_json::Value::Array(rows));
        } else {
            let width = projects.keys().map(String::len).max().unwrap_or(0).max(4);
            let status_w = projects
                .values()
                .map(|r| r.status().len())
                .max()
                .unwrap_or(0)
                .max(6);
            outln!(
                "{:<width$}   {:<status_w$}   CONFIG FILES",
                "NAME",
                "STATUS"
            );
            for (name, row) in &projects {
                outln!(
                    "{name:<width$}   {:<status_w$}   {}",
                    row.status(),
                    row.files
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::api::models::EventActor;

    #[test]
    fn events_print_as_text_or_json() {
        let e = EventMessage {
            typ: "container".into(),
            action: "start".into(),
            actor: EventActor {
                id: "abc".into(),
                attributes: [
                    ("name".to_owned(), "p-web-1".to_owned()),
                    (labels::SERVICE.to_owned(), "web".to_owned()),
                ]
                .into_iter()
                .collect(),
            },
            time: 5,
            ..EventMessage::default()
        };
        assert_eq!(
            event_line(&e, false),
            "5 container start abc (name=p-web-1, service=web)"
        );
        let v: serde_json::Value = serde_json::from_str(&event_line(&e, true)).unwrap();
        assert_eq!(v["service"], "web");
        assert_eq!(v["attributes"]["name"], "p-web-1");
    }

    #[test]
    fn project_status_counts_states() {
        let mut row = ProjectRow::default();
        row.states.insert("running".into(), 2);
        row.states.insert("exited".into(), 1);
        assert_eq!(row.status(), "exited(1), running(2)");
    }
}
