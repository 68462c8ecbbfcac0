//! `berth container stats`: live resource usage of containers as the docker CLI shows it (CPU
//! %, memory use / limit, network and block I/O, PIDs), once (`--no-stream`) or redrawn every
//! second; `--format` takes `table …`, `json` or a template of `{{.Field}}` placeholders. The
//! compose `stats` verb renders its project's containers the same way.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::{ContainerStats, Filters};
use berth_engine::backend::ListContainersOptions;
use berth_engine::client::Client;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default: running ones).
    #[arg(short, long)]
    all: bool,
    /// Print one sample and exit.
    #[arg(long)]
    no_stream: bool,
    /// `table [TEMPLATE]`, `json`, or a template such as `{{.Name}} {{.MemUsage}}`.
    #[arg(long)]
    format: Option<String>,
    /// Containers (default: every running one).
    containers: Vec<String>,
}

/// One container's figures, formatted as the docker CLI formats them.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Short id.
    pub id: String,
    /// Name without the slash.
    pub name: String,
    /// `0.52%`.
    pub cpu: String,
    /// `1.2MiB / 7.6GiB`.
    pub mem_usage: String,
    /// `0.02%`.
    pub mem_perc: String,
    /// `1.1kB / 0B`.
    pub net_io: String,
    /// `0B / 4.1kB`.
    pub block_io: String,
    /// Processes.
    pub pids: String,
}

/// Docker's binary sizes (`units.BytesSize`, four significant digits): `1.5MiB`.
fn binary(v: f64) -> String {
    human(v, 1024.0, 4, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"])
}

/// Docker's decimal sizes (`units.HumanSizeWithPrecision(_, 3)`): `1.5kB`.
fn decimal(v: f64) -> String {
    human(v, 1000.0, 3, &["B", "kB", "MB", "GB", "TB", "PB"])
}

/// `v` scaled to `base`'s units with `digits` significant digits, as Go's `%.*g`.
fn human(mut v: f64, base: f64, digits: i32, units: &[&str]) -> String {
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    let before = if v >= 1.0 {
        v.log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = (digits - before).max(0) as usize;
    let mut text = format!("{v:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", units[i])
}

impl Row {
    /// The row of one stats document.
    pub fn of(s: &ContainerStats) -> Self {
        let cpu_delta = s
            .cpu_stats
            .cpu_usage
            .total_usage
            .saturating_sub(s.precpu_stats.cpu_usage.total_usage) as f64;
        let sys_delta =
            s.cpu_stats
                .system_cpu_usage
                .unwrap_or(0)
                .saturating_sub(s.precpu_stats.system_cpu_usage.unwrap_or(0)) as f64;
        let cpus = f64::from(s.cpu_stats.online_cpus.unwrap_or(1).max(1));
        let cpu = match cpu_delta > 0.0 && sys_delta > 0.0 {
            true => cpu_delta / sys_delta * cpus * 100.0,
            false => 0.0,
        };
        let m = &s.memory_stats;
        let usage = m.usage.unwrap_or(0);
        // As the docker CLI: page cache that can be dropped is not "used".
        let cache = m
            .stats
            .get("total_inactive_file")
            .or_else(|| m.stats.get("inactive_file"))
            .copied()
            .filter(|c| *c < usage)
            .unwrap_or(0);
        let used = (usage - cache) as f64;
        let limit = m.limit.unwrap_or(0) as f64;
        let mem_perc = if limit > 0.0 {
            used / limit * 100.0
        } else {
            0.0
        };
        let (rx, tx) = s
            .networks
            .iter()
            .flatten()
            .fold((0, 0), |(r, t), (_, n)| (r + n.rx_bytes, t + n.tx_bytes));
        let (read, write) = s
            .blkio_stats
            .io_service_bytes_recursive
            .iter()
            .flatten()
            .fold((0, 0), |(r, w), e| {
                match e.op.to_ascii_lowercase().as_str() {
                    "read" => (r + e.value, w),
                    "write" => (r, w + e.value),
                    _ => (r, w),
                }
            });
        Self {
            id: s.id.chars().take(12).collect(),
            name: s.name.trim_start_matches('/').to_owned(),
            cpu: format!("{cpu:.2}%"),
            mem_usage: format!("{} / {}", binary(used), binary(limit)),
            mem_perc: format!("{mem_perc:.2}%"),
            net_io: format!("{} / {}", decimal(rx as f64), decimal(tx as f64)),
            block_io: format!("{} / {}", decimal(read as f64), decimal(write as f64)),
            pids: s.pids_stats.current.unwrap_or(0).to_string(),
        }
    }

    fn field(&self, name: &str) -> Option<&str> {
        Some(match name {
            "ID" | "Container" => &self.id,
            "Name" => &self.name,
            "CPUPerc" => &self.cpu,
            "MemUsage" => &self.mem_usage,
            "MemPerc" => &self.mem_perc,
            "NetIO" => &self.net_io,
            "BlockIO" => &self.block_io,
            "PIDs" => &self.pids,
            _ => return None,
        })
    }

    fn json(&self) -> String {
        serde_json::json!({
            "ID": self.id, "Container": self.id, "Name": self.name, "CPUPerc": self.cpu,
            "MemUsage": self.mem_usage, "MemPerc": self.mem_perc, "NetIO": self.net_io,
            "BlockIO": self.block_io, "PIDs": self.pids,
        })
        .to_string()
    }
}

/// Fills `{{.Field}}` placeholders (and `\t`) of `template` from `row`.
pub fn fill(template: &str, row: &Row) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find("}}")
            .with_context(|| format!("--format {template:?}: unclosed {{{{"))?;
        let key = rest[open + 2..open + close].trim().trim_start_matches('.');
        let value = row.field(key).with_context(|| {
            format!("--format: unknown field {key:?} (hint: ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs)")
        })?;
        out.push_str(value);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out.replace("\\t", "\t"))
}

/// The lines to print for `rows` in `format` (the docker CLI's default table without one).
pub fn render(rows: &[Row], format: Option<&str>) -> anyhow::Result<String> {
    match format {
        None | Some("table") => Ok(crate::table::render(
            [
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET I/O",
                "BLOCK I/O",
                "PIDS",
            ],
            &rows
                .iter()
                .map(|r| {
                    [
                        r.id.clone(),
                        r.name.clone(),
                        r.cpu.clone(),
                        r.mem_usage.clone(),
                        r.mem_perc.clone(),
                        r.net_io.clone(),
                        r.block_io.clone(),
                        r.pids.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
        )),
        Some("json") => Ok(rows.iter().map(|r| r.json() + "\n").collect()),
        Some(t) => {
            let (table, template) = match t.strip_prefix("table ") {
                Some(rest) => (true, rest),
                None => (false, t),
            };
            let mut out = String::new();
            if table {
                let header = template
                    .replace("{{.ID}}", "CONTAINER ID")
                    .replace("{{.Container}}", "CONTAINER")
                    .replace("{{.Name}}", "NAME")
                    .replace("{{.CPUPerc}}", "CPU %")
                    .replace("{{.MemUsage}}", "MEM USAGE / LIMIT")
                    .replace("{{.MemPerc}}", "MEM %")
                    .replace("{{.NetIO}}", "NET I/O")
                    .replace("{{.BlockIO}}", "BLOCK I/O")
                    .replace("{{.PIDs}}", "PIDS");
                out.push_str(&header.replace("\\t", "\t"));
                out.push('\n');
            }
            for r in rows {
                out.push_str(&fill(template, r)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// One row per container of `ids` (samples taken together).
pub async fn sample(client: &Client, ids: &[String]) -> anyhow::Result<Vec<Row>> {
    let docs = futures_util::future::join_all(ids.iter().map(|id| client.stats_once(id))).await;
    let mut rows = Vec::new();
    for (id, doc) in ids.iter().zip(docs) {
        match doc {
            Ok(d) => rows.push(Row::of(&d)),
            // A container removed meanwhile just leaves the table.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e).with_context(|| format!("stats of {id}")),
        }
    }
    Ok(rows)
}

/// Prints `ids`' stats once, or every second until interrupted.
pub async fn show(
    client: &Client,
    ids: &[String],
    stream: bool,
    format: Option<&str>,
) -> anyhow::Result<()> {
    let clear = stream && std::io::stdout().is_terminal();
    loop {
        let rows = sample(client, ids).await?;
        let text = render(&rows, format)?;
        let mut out = std::io::stdout().lock();
        if clear {
            out.write_all(b"\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        drop(out);
        if !stream || rows.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Runs `berth container stats`.
pub fn run(args: StatsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let ids = match args.containers.is_empty() {
            false => args.containers.clone(),
            true => client
                .list_containers(&ListContainersOptions {
                    all: args.all,
                    limit: None,
                    filters: Filters::default(),
                })
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect(),
        };
        show(&client, &ids, !args.no_stream, args.format.as_deref()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::api::models::{BlkioEntry, NetworkStats};

    fn doc() -> ContainerStats {
        let mut s = ContainerStats {
            id: "0123456789abcdef".into(),
            name: "/web".into(),
            ..ContainerStats::default()
        };
        s.cpu_stats.cpu_usage.total_usage = 300;
        s.precpu_stats.cpu_usage.total_usage = 100;
        s.cpu_stats.system_cpu_usage = Some(2000);
        s.precpu_stats.system_cpu_usage = Some(1000);
        s.cpu_stats.online_cpus = Some(2);
        s.memory_stats.usage = Some(3 << 20);
        s.memory_stats.stats.insert("inactive_file".into(), 1 << 20);
        s.memory_stats.limit = Some(1 << 30);
        s.pids_stats.current = Some(4);
        s.networks = Some(
            [(
                "eth0".to_owned(),
                NetworkStats {
                    rx_bytes: 1500,
                    tx_bytes: 0,
                    ..NetworkStats::default()
                },
            )]
            .into(),
        );
        s.blkio_stats.io_service_bytes_recursive = Some(vec![BlkioEntry {
            op: "Write".into(),
            value: 4096,
            ..BlkioEntry::default()
        }]);
        s
    }

    #[test]
    fn figures_as_the_docker_cli_computes_them() {
        let r = Row::of(&doc());
        assert_eq!(r.id, "0123456789ab");
        assert_eq!(r.name, "web");
        assert_eq!(r.cpu, "40.00%");
        assert_eq!(r.mem_usage, "2MiB / 1GiB");
        assert_eq!(r.mem_perc, "0.20%");
        assert_eq!(r.net_io, "1.5kB / 0B");
        assert_eq!(r.block_io, "0B / 4.1kB");
        assert_eq!(r.pids, "4");
    }

    #[test]
    fn formats_table_json_and_templates() {
        let rows = [Row::of(&doc())];
        let t = render(&rows, None).unwrap();
        assert!(t.starts_with("CONTAINER ID   NAME"), "{t}");
        assert_eq!(
            render(&rows, Some("{{.Name}}: {{.MemUsage}}")).unwrap(),
            "web: 2MiB / 1GiB\n"
        );
        let table = render(&rows, Some("table {{.Name}}\\t{{.PIDs}}")).unwrap();
        assert_eq!(table, "NAME\tPIDS\nweb\t4\n");
        let j: serde_json::Value =
            serde_json::from_str(render(&rows, Some("json")).unwrap().trim()).unwrap();
        assert_eq!(j["PIDs"], "4");
        let err = render(&rows, Some("{{.Nope}}")).unwrap_err().to_string();
        assert!(err.contains("unknown field \"Nope\""), "{err}");
    }

    #[test]
    fn sizes_like_docker_units() {
        assert_eq!(binary(0.0), "0B");
        assert_eq!(binary(1536.0 * 1024.0), "1.5MiB");
        assert_eq!(decimal(999.0), "999B");
        assert_eq!(decimal(4096.0), "4.1kB");
        assert_eq!(binary(1023.0), "1023B");
    }
}
