//! Container output for `logs` and `attach`, read from the shim's json-file log. Following
//! keeps the log file open (it survives an auto-remove) and ends once the container has
//! stopped and everything the shim wrote has been read. A follower looks for new output every
//! [`POLL`], but wakes at once when the container's phase changes: the shim has written all of
//! the output before its exit is recorded, so a `run` of a short command ends as soon as the
//! container does, not up to a poll interval later.

use std::io::{BufRead as _, BufReader, Read, Seek as _, SeekFrom};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::{Phase, RealBackend};
use crate::backend::{
    AttachOptions, Attachment, BackendError, BackendResult, BoxStream, ErrorKind, LogChunk,
    LogSource, LogsOptions,
};

/// How often a follower looks for new output.
const POLL: Duration = Duration::from_millis(50);

/// Turns one json-file line into a chunk, if its stream is wanted.
pub(super) fn parse_line(
    line: &str,
    stdout: bool,
    stderr: bool,
    timestamps: bool,
) -> Option<LogChunk> {
    let entry: berth_runtime::shim::LogLine = serde_json::from_str(line).ok()?;
    let source = match entry.stream.as_str() {
        "stdout" if stdout => LogSource::Stdout,
        "stderr" if stderr => LogSource::Stderr,
        _ => return None,
    };
    let data = if timestamps {
        format!("{} {}", entry.time, entry.log)
    } else {
        entry.log
    };
    Some(LogChunk {
        source,
        data: Bytes::from(data),
    })
}

fn stream_of(rx: mpsc::Receiver<LogChunk>) -> BoxStream<BackendResult<LogChunk>> {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (Ok(c), rx))
    }))
}

/// Reads complete lines from `reader`, sending the wanted ones; false when the receiver left.
fn pump(
    reader: &mut BufReader<std::fs::File>,
    partial: &mut String,
    opts: &LogsOptions,
    tx: &mpsc::Sender<LogChunk>,
) -> bool {
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
        partial.push_str(&line);
        if !partial.ends_with('\n') {
            return true;
        }
        let whole = std::mem::take(partial);
        if let Some(c) = parse_line(&whole, opts.stdout, opts.stderr, opts.timestamps) {
            if tx.blocking_send(c).is_err() {
                return false;
            }
        }
    }
}

/// Follows the log until the phase leaves `Created`/`Running` and the file is drained. Runs on
/// a thread of its own; `rt` is the engine's runtime, on which it waits for the next phase
/// change or `every` (the engine passes [`POLL`]), whichever comes first.
fn follow(
    mut reader: BufReader<std::fs::File>,
    opts: LogsOptions,
    mut phase: watch::Receiver<Phase>,
    tx: mpsc::Sender<LogChunk>,
    rt: &tokio::runtime::Handle,
    every: Duration,
) {
    let mut partial = String::new();
    loop {
        let done = !matches!(*phase.borrow_and_update(), Phase::Created | Phase::Running);
        if !pump(&mut reader, &mut partial, &opts, &tx) || done {
            return;
        }
        // A dropped sender (the container is gone) also ends the wait: the next round sees
        // the last phase and drains the file.
        // Built inside the runtime's context: a timer made on this thread would find none.
        let _ = rt.block_on(async { tokio::time::timeout(every, phase.changed()).await });
    }
}

impl RealBackend {
    fn open_log(&self, id: &str) -> BackendResult<(String, std::fs::File, watch::Receiver<Phase>)> {
        let full = self.resolve(id)?;
        let path = self.inner.paths.container(&full).join("log.json");
        let file = std::fs::File::open(&path).map_err(|e| {
            BackendError::new(ErrorKind::Internal, "cannot open the container log").with_source(e)
        })?;
        let phase = self
            .lock()
            .get(&full)
            .map(|e| e.phase.subscribe())
            .ok_or_else(|| BackendError::not_found(format!("No such container: {id}")))?;
        Ok((full, file, phase))
    }

    pub(super) fn logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> BackendResult<BoxStream<BackendResult<LogChunk>>> {
        let (_, mut file, phase) = self.open_log(id)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| {
            BackendError::new(ErrorKind::Internal, "cannot read the log").with_source(e)
        })?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let mut chunks: Vec<LogChunk> = text[..complete]
            .lines()
            .filter_map(|l| parse_line(l, opts.stdout, opts.stderr, opts.timestamps))
            .collect();
        if let Some(n) = opts.tail {
            let skip = chunks.len().saturating_sub(n);
            chunks.drain(..skip);
        }
        let (tx, rx) = mpsc::channel(64);
        let follow_it = opts.follow;
        let _ = file.seek(SeekFrom::Start(complete as u64));
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            for c in chunks {
                if tx.blocking_send(c).is_err() {
                    return;
                }
            }
            if follow_it {
                follow(BufReader::new(file), opts, phase, tx, &rt, POLL);
            }
        });
        Ok(stream_of(rx))
    }

    pub(super) fn attach(&self, id: &str, opts: AttachOptions) -> BackendResult<Attachment> {
        let (full, mut file, phase) = self.open_log(id)?;
        if self.interactive(&full) {
            return self.attach_channel(&full, opts, phase);
        }
        if !opts.logs {
            let _ = file.seek(SeekFrom::End(0));
        }
        let tty = self
            .lock()
            .get(&full)
            .is_some_and(|e| e.record.body.config.tty);
        let log_opts = LogsOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            follow: true,
            ..LogsOptions::default()
        };
        let (tx, rx) = mpsc::channel(64);
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || follow(BufReader::new(file), log_opts, phase, tx, &rt, POLL));
        Ok(Attachment {
            output: stream_of(rx),
            stdin: None,
            tty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_become_chunks_of_the_wanted_stream() {
        let line = r#"{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00.000000001Z"}"#;
        let c = parse_line(line, true, false, false).unwrap();
        assert_eq!((c.source, &c.data[..]), (LogSource::Stdout, &b"hi\n"[..]));
        assert!(parse_line(line, false, true, false).is_none());
        let t = parse_line(line, true, true, true).unwrap();
        assert_eq!(&t.data[..], b"2024-01-01T00:00:00.000000001Z hi\n");
        assert!(parse_line("not json", true, true, false).is_none());
    }

    fn line(text: &str) -> String {
        format!(r#"{{"log":"{text}\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}}"#) + "\n"
    }

    /// Regression: a follower slept a whole poll interval before it noticed the container had
    /// ended, so every `run` of a short command took at least that long. With an interval of
    /// an hour, the follower must still end as soon as the phase changes, output drained.
    #[test]
    fn a_follower_ends_with_the_container_not_with_its_poll_interval() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        std::fs::write(&path, line("first")).unwrap();
        let (phase_tx, phase) = watch::channel(Phase::Running);
        let (tx, mut rx) = mpsc::channel(8);
        let handle = rt.handle().clone();
        let reader = BufReader::new(std::fs::File::open(&path).unwrap());
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..LogsOptions::default()
        };
        let hour = Duration::from_secs(3600);
        let follower = std::thread::spawn(move || follow(reader, opts, phase, tx, &handle, hour));
        let first = rx.blocking_recv().unwrap();
        assert_eq!(&first.data[..], b"first\n");
        // The shim writes its last output, then the exit is recorded.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, line("last").as_bytes()).unwrap();
        phase_tx.send_replace(Phase::Exited(0));
        // The follower's own interval is an hour: ending within the guard at all means it
        // woke on the phase change.
        let guard = Duration::from_secs(60);
        let rest = rt.block_on(async {
            let all = async {
                let mut rest = Vec::new();
                while let Some(c) = rx.recv().await {
                    rest.push(c);
                }
                rest
            };
            tokio::time::timeout(guard, all).await
        });
        let rest = rest.expect("the follower waited for its poll interval");
        assert_eq!(rest.len(), 1);
        assert_eq!(&rest[0].data[..], b"last\n");
        follower.join().unwrap();
    }
}
