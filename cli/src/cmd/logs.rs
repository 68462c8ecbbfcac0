//! `berth logs`: the output of a project's containers, interleaved line by line with coloured
//! `service-N  | ` prefixes like `docker compose logs`. The same multiplexer prints the
//! containers' output in attached `berth up`.

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;

use anyhow::Context;
use berth_engine::api::models::ContainerSummary;
use berth_engine::backend::{LogsOptions, WaitCondition};
use berth_engine::client::{Client, LogOutput};
use clap::Args;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::{Stack, name_of};

/// Arguments of `berth logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Compose files: here only as `--file` (`-f` after this verb means --follow).
    #[arg(long = "file", id = "files", value_name = "FILE", hide = true)]
    files: Vec<std::path::PathBuf>,
    /// Number of lines to show from the end of each container's log (`all` for everything).
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    tail: String,
    /// Only lines at or after this time (RFC 3339 or unix seconds), compared with -t stamps.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only lines before this time (RFC 3339 or unix seconds), compared with -t stamps.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Show timestamps.
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Monochrome output.
    #[arg(long)]
    no_color: bool,
    /// Do not prefix lines with the container name.
    #[arg(long)]
    no_log_prefix: bool,
    /// Only the container with this replica number.
    #[arg(long, value_name = "N")]
    index: Option<u64>,
    /// Services to show (default: all).
    services: Vec<String>,
}

/// ANSI colours docker compose cycles through for prefixes.
const COLOURS: [&str; 12] = [
    "36", "33", "32", "35", "34", "96", "93", "92", "95", "94", "31", "91",
];

/// How container output is printed.
#[derive(Debug, Clone)]
pub struct LogStyle {
    pub colour: bool,
    pub prefix: bool,
    /// Width the names are padded to (the longest plus one, like docker compose).
    pub width: usize,
}

impl LogStyle {
    /// The style for `names` (the displayed container names) on this terminal.
    pub fn new(names: &[String], no_color: bool, no_prefix: bool) -> LogStyle {
        LogStyle {
            colour: !no_color && std::io::stdout().is_terminal(),
            prefix: !no_prefix,
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0) + 1,
        }
    }

    /// The prefix of container `index` named `name`.
    pub fn prefix(&self, index: usize, name: &str) -> String {
        if !self.prefix {
            return String::new();
        }
        let padded = format!("{name:<width$} | ", width = self.width);
        if self.colour {
            format!("\x1b[{}m{padded}\x1b[0m", COLOURS[index % COLOURS.len()])
        } else {
            padded
        }
    }
}

/// The name shown for a container: `service-N` for `PROJECT-service-N`, else its name.
pub fn display_name(project: &str, container: &str) -> String {
    container
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(container)
        .to_owned()
}

/// Splits output into whole lines, keeping an unfinished tail for the next piece.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes and returns the lines they complete (without newlines).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            out.push(text.trim_end_matches('\r').to_owned());
        }
        out
    }

    /// The unfinished last line, if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.pending.is_empty())
            .then(|| String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned())
    }
}

/// Lines outside `[since, until)` when both carry RFC 3339 stamps (compared as text, which
/// orders RFC 3339 UTC stamps correctly).
fn in_window(line: &str, since: Option<&str>, until: Option<&str>) -> bool {
    let Some(stamp) = line.split(' ').next() else {
        return true;
    };
    since.is_none_or(|s| stamp >= s) && until.is_none_or(|u| stamp < u)
}

/// A time argument as an RFC 3339 UTC prefix for comparison (unix seconds are converted).
fn time_arg(text: &str) -> anyhow::Result<String> {
    if let Ok(secs) = text.parse::<i64>() {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        return Ok(format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        ));
    }
    anyhow::ensure!(
        text.len() >= 10 && text.as_bytes()[4] == b'-',
        "invalid time {text:?}: expected RFC 3339 (2024-01-31T12:00:00Z) or unix seconds"
    );
    Ok(text.trim_end_matches('Z').to_owned())
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Where the lines of one container go.
#[derive(Clone)]
pub struct Sink {
    since: Option<String>,
    until: Option<String>,
    strip_stamp: bool,
}

impl Sink {
    fn print(&self, prefix: &str, line: &str) {
        if (self.since.is_some() || self.until.is_some())
            && !in_window(line, self.since.as_deref(), self.until.as_deref())
        {
            return;
        }
        let line = if self.strip_stamp {
            line.split_once(' ').map_or(line, |(_, rest)| rest)
        } else {
            line
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{prefix}{line}");
    }
}

/// Streams the logs of `containers` concurrently, one prefixed line at a time. With `follow`
/// each container's stream ends when it stops; its exit code is then sent on `exits`.
pub async fn stream_logs(
    client: &Client,
    project: &str,
    containers: &[ContainerSummary],
    opts: &LogsOptions,
    style: &LogStyle,
    sink: Sink,
    exits: Option<UnboundedSender<(String, i64)>>,
) {
    let tasks = containers.iter().enumerate().map(|(i, c)| {
        let name = name_of(c);
        let prefix = style.prefix(i, &display_name(project, &name));
        let client = client.clone();
        let sink = sink.clone();
        let exits = exits.clone();
        let opts = opts.clone();
        async move {
            let mut lines = LineBuffer::default();
            if let Ok(mut stream) = client.logs(&name, &opts).await {
                while let Some(Ok(piece)) = stream.next().await {
                    let bytes = match &piece {
                        LogOutput::StdOut(b)
                        | LogOutput::StdErr(b)
                        | LogOutput::Console(b)
                        | LogOutput::StdIn(b) => b,
                    };
                    for line in lines.push(bytes) {
                        sink.print(&prefix, &line);
                    }
                }
            }
            if let Some(rest) = lines.finish() {
                sink.print(&prefix, &rest);
            }
            if let Some(exits) = exits {
                let code = client
                    .wait_container(&name, WaitCondition::NotRunning)
                    .await
                    .map_or(-1, |r| r.status_code);
                let _ = exits.send((name, code));
            }
        }
    });
    futures_util::future::join_all(tasks).await;
}

/// A sink printing every line to standard output.
pub fn stdout_sink() -> Sink {
    Sink {
        since: None,
        until: None,
        strip_stamp: false,
    }
}

/// Runs `berth logs`.
pub fn run(args: LogsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().with_context(|| {
            format!("invalid --tail {n:?}: expected a number of lines or `all`")
        })?),
    };
    let since = args.since.as_deref().map(time_arg).transpose()?;
    let until = args.until.as_deref().map(time_arg).transpose()?;
    let global = &crate::stack::with_files(global, &args.files);
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        let mut containers = stack.containers(&args.services, true, false).await?;
        if let Some(n) = args.index {
            containers.retain(|c| crate::stack::number_of(c) == n);
        }
        let names: Vec<String> = containers
            .iter()
            .map(|c| display_name(&stack.project.name, &name_of(c)))
            .collect();
        let style = LogStyle::new(&names, args.no_color, args.no_log_prefix);
        let filtered = since.is_some() || until.is_some();
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            follow: args.follow,
            timestamps: args.timestamps || filtered,
            tail,
        };
        let sink = Sink {
            since,
            until,
            strip_stamp: filtered && !args.timestamps,
        };
        stream_logs(
            stack.client(),
            &stack.project.name,
            &containers,
            &opts,
            &style,
            sink,
            None,
        )
        .await;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_pieces() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"a\nb"), vec!["a"]);
        assert_eq!(b.push(b"c\r\n\n"), vec!["bc", ""]);
        assert_eq!(b.push(b"tail"), Vec::<String>::new());
        assert_eq!(b.finish().as_deref(), Some("tail"));
        assert_eq!(b.finish(), None);
    }

    #[test]
    fn prefixes_are_padded_and_named_like_compose() {
        assert_eq!(display_name("p", "p-web-1"), "web-1");
        assert_eq!(display_name("p", "custom"), "custom");
        let style = LogStyle {
            colour: false,
            prefix: true,
            width: 5,
        };
        assert_eq!(style.prefix(0, "db-1"), "db-1  | ");
        let coloured = LogStyle {
            colour: true,
            ..style
        };
        assert!(coloured.prefix(1, "db-1").starts_with("\x1b[33m"));
    }

    #[test]
    fn time_window_uses_rfc3339_stamps() {
        assert_eq!(time_arg("0").unwrap(), "1970-01-01T00:00:00");
        assert_eq!(time_arg("1700000000").unwrap(), "2023-11-14T22:13:20");
        assert!(time_arg("yesterday").is_err());
        let line = "2024-01-02T03:04:05.000Z hello";
        assert!(in_window(line, Some("2024-01-01"), None));
        assert!(!in_window(line, Some("2024-01-03"), None));
        assert!(!in_window(line, None, Some("2024-01-02T03:04:05")));
    }
}
