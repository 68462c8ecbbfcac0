//! Progress of compose verbs, rendered like `docker compose`: one line per resource
//! (`✔ Container p-web-1  Started  0.3s`), redrawn in place on a terminal, one line per change
//! in `plain` mode, JSON objects in `json` mode, nothing in `quiet` mode.
//!
//! The executor (and the verbs that act on containers directly) emit [`Event`]s on a channel;
//! [`Renderer::run`] consumes them until every sender is gone.

use std::io::{IsTerminal as _, Write};
use std::time::Instant;

use anyhow::bail;
use berth_compose::execute::{Event, Status};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tty,
    Plain,
    Json,
    Quiet,
}

impl Mode {
    /// Parses `--progress` (`auto` picks `tty` when standard error is a terminal).
    pub fn parse(text: &str) -> anyhow::Result<Mode> {
        Ok(match text {
            "auto" if std::io::stderr().is_terminal() => Mode::Tty,
            "auto" | "plain" => Mode::Plain,
            "tty" => Mode::Tty,
            "json" => Mode::Json,
            "quiet" => Mode::Quiet,
            other => {
                bail!("invalid --progress {other:?}: expected one of auto, tty, plain, json, quiet")
            }
        })
    }
}

/// The word docker compose prints for a status.
pub fn status_word(status: Status) -> &'static str {
    match status {
        Status::Creating => "Creating",
        Status::Created => "Created",
        Status::Starting => "Starting",
        Status::Started => "Started",
        Status::Stopping => "Stopping",
        Status::Stopped => "Stopped",
        Status::Removing => "Removing",
        Status::Removed => "Removed",
        Status::Waiting => "Waiting",
        Status::Healthy => "Healthy",
        Status::Exited => "Exited",
        Status::Skipped => "Skipped",
        Status::Error => "Error",
        Status::Pulling => "Pulling",
        Status::Pulled => "Pulled",
        Status::Paused => "Paused",
        Status::Unpaused => "Unpaused",
        Status::Killed => "Killed",
        Status::Restarted => "Restarted",
    }
}

fn is_done(status: Status) -> bool {
    !matches!(
        status,
        Status::Creating
            | Status::Starting
            | Status::Stopping
            | Status::Removing
            | Status::Waiting
            | Status::Pulling
    )
}

struct Line {
    resource: String,
    status: Status,
    message: String,
    since: Instant,
    took: Option<f64>,
}

/// Renders progress events until the channel closes.
pub struct Renderer {
    mode: Mode,
    lines: Vec<Line>,
    drawn: usize,
    title: String,
}

/// A running renderer: send events with [`Progress::sender`], then [`Progress::finish`].
pub struct Progress {
    tx: Option<UnboundedSender<Event>>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts rendering in `mode` under `title` (`Running`, `Stopping`, …).
    pub fn start(mode: Mode, title: &str) -> Progress {
        let (tx, rx) = unbounded_channel();
        let renderer = Renderer {
            mode,
            lines: Vec::new(),
            drawn: 0,
            title: title.to_owned(),
        };
        let task = tokio::spawn(renderer.run(rx));
        Progress { tx: Some(tx), task }
    }

    /// The sending side.
    pub fn sender(&self) -> UnboundedSender<Event> {
        self.tx.clone().unwrap_or_else(|| unbounded_channel().0)
    }

    /// Sends one event.
    pub fn send(&self, resource: String, status: Status, message: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Event {
                resource,
                status,
                message,
            });
        }
    }

    /// Waits until every event sent so far is drawn.
    pub async fn finish(mut self) {
        self.tx = None;
        let _ = (&mut self.task).await;
    }
}

impl Renderer {
    async fn run(mut self, mut rx: UnboundedReceiver<Event>) {
        while let Some(event) = rx.recv().await {
            self.apply(event);
            while let Ok(event) = rx.try_recv() {
                self.apply(event);
            }
            if self.mode == Mode::Tty {
                self.draw();
            }
        }
    }

    fn apply(&mut self, event: Event) {
        let now = Instant::now();
        match self.mode {
            Mode::Quiet => return,
            Mode::Plain => {
                let mut err = std::io::stderr().lock();
                let _ = if event.status == Status::Error {
                    writeln!(
                        err,
                        " {}  {}: {}",
                        event.resource,
                        status_word(event.status),
                        event.message
                    )
                } else {
                    writeln!(err, " {}  {}", event.resource, status_word(event.status))
                };
            }
            Mode::Json => {
                let (kind, id) = event
                    .resource
                    .split_once(' ')
                    .unwrap_or(("", &event.resource));
                let value = serde_json::json!({
                    "id": event.resource,
                    "type": kind,
                    "name": id,
                    "status": status_word(event.status),
                    "text": event.message,
                });
                let _ = writeln!(std::io::stderr().lock(), "{value}");
            }
            Mode::Tty => {}
        }
        match self.lines.iter_mut().find(|l| l.resource == event.resource) {
            Some(line) => {
                if is_done(event.status) {
                    line.took = Some(now.duration_since(line.since).as_secs_f64());
                } else {
                    line.since = now;
                    line.took = None;
                }
                line.status = event.status;
                line.message = event.message;
            }
            None => self.lines.push(Line {
                took: is_done(event.status).then_some(0.0),
                resource: event.resource,
                status: event.status,
                message: event.message,
                since: now,
            }),
        }
    }

    fn draw(&mut self) {
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        let done = self.lines.iter().filter(|l| is_done(l.status)).count();
        out.push_str(&format!(
            "\x1b[2K[+] {} {done}/{}\n",
            self.title,
            self.lines.len()
        ));
        let width = self
            .lines
            .iter()
            .map(|l| l.resource.chars().count())
            .max()
            .unwrap_or(0);
        for l in &self.lines {
            let mark = match l.status {
                Status::Error => "\x1b[31m✘\x1b[0m",
                Status::Skipped => "-",
                s if is_done(s) => "\x1b[32m✔\x1b[0m",
                _ => "⠿",
            };
            let took = l.took.map(|t| format!("{t:.1}s")).unwrap_or_default();
            let detail = if l.status == Status::Error {
                format!(" {}", l.message)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "\x1b[2K {mark} {:<width$}  {:<9}{detail} {took}\n",
                l.resource,
                status_word(l.status)
            ));
        }
        self.drawn = self.lines.len() + 1;
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_modes_parse_and_unknown_ones_are_refused() {
        assert_eq!(Mode::parse("plain").unwrap(), Mode::Plain);
        assert_eq!(Mode::parse("json").unwrap(), Mode::Json);
        assert_eq!(Mode::parse("quiet").unwrap(), Mode::Quiet);
        assert_eq!(Mode::parse("tty").unwrap(), Mode::Tty);
        let e = Mode::parse("fancy").unwrap_err().to_string();
        assert!(e.contains("auto, tty, plain, json, quiet"), "{e}");
    }

    #[test]
    fn a_resource_keeps_one_line_with_its_latest_status() {
        let mut r = Renderer {
            mode: Mode::Quiet,
            lines: Vec::new(),
            drawn: 0,
            title: "Running".into(),
        };
        r.mode = Mode::Tty;
        for status in [
            Status::Creating,
            Status::Created,
            Status::Starting,
            Status::Started,
        ] {
            r.apply(Event {
                resource: "Container p-web-1".into(),
                status,
                message: String::new(),
            });
        }
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].status, Status::Started);
        assert!(r.lines[0].took.is_some());
    }
}
