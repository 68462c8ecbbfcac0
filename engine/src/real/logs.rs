//! Container output for `logs` and `attach`, read from the shim's json-file log. Following
//! keeps the log file open (it survives an auto-remove) and ends once the container has
//! stopped and everything the shim wrote has been read. A follower looks for new output every
//! [`POLL`], but wakes at once when the container's phase changes: the shim has written all of
//! the output before its exit is recorded, so a `run` of a short command ends as soon as the
//! container does, not up to a poll interval later.
//!
//! A log rotated by `max-size` (see `berth_runtime::json_log`) is read oldest file first; a
//! follower that finds the path naming a new file (rotated) or the file shorter than what it
//! read (emptied, `max-file` 1) carries on from the new file's start.

use std::io::{BufRead as _, BufReader, Read, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
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

/// The file to read on from when the log at `path` was rotated or emptied since `reader`
/// opened it (a new file; the same one from its start), else `None`.
fn rotated_away(
    path: &Path,
    reader: &mut BufReader<std::fs::File>,
) -> Option<BufReader<std::fs::File>> {
    let open = reader.get_ref().metadata().ok()?;
    let named = std::fs::metadata(path).ok()?;
    if (named.dev(), named.ino()) != (open.dev(), open.ino()) {
        return std::fs::File::open(path).ok().map(BufReader::new);
    }
    if named.len() < reader.stream_position().ok()? {
        let file = std::fs::File::open(path).ok()?;
        return Some(BufReader::new(file));
    }
    None
}

/// Follows the log at `path` until the phase leaves `Created`/`Running` and the file is
/// drained. Runs on a thread of its own; `rt` is the engine's runtime, on which it waits for
/// the next phase change or `every` (the engine passes [`POLL`]), whichever comes first.
fn follow(
    path: PathBuf,
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
        if !pump(&mut reader, &mut partial, &opts, &tx) {
            return;
        }
        if let Some(next) = rotated_away(&path, &mut reader) {
            // What the old file still held is read; a line cut by the rotation is dropped.
            partial.clear();
            reader = next;
            continue;
        }
        if done {
            return;
        }
        // A dropped sender (the container is gone) also ends the wait: the next round sees
        // the last phase and drains the file.
        // Built inside the runtime's context: a timer made on this thread would find none.
        let _ = rt.block_on(async { tokio::time::timeout(every, phase.changed()).await });
    }
}

impl RealBackend {
    /// The container's full id, its log's path and open current file, and its phase.
    fn open_log(
        &self,
        id: &str,
    ) -> BackendResult<(String, PathBuf, std::fs::File, watch::Receiver<Phase>)> {
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
        Ok((full, path, file, phase))
    }

    pub(super) fn logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> BackendResult<BoxStream<BackendResult<LogChunk>>> {
        let (_, path, mut file, phase) = self.open_log(id)?;
        let mut text = String::new();
        // Rotated files first, oldest first; a file rotated away meanwhile is skipped.
        let files = berth_runtime::json_log::log_files(&path);
        for older in &files[..files.len() - 1] {
            if let Ok(t) = std::fs::read_to_string(older) {
                text.push_str(&t);
            }
        }
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
        let read = text.len() as u64;
        let _ = file.seek(SeekFrom::Current(complete as i64 - read as i64));
        let rt = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            for c in chunks {
                if tx.blocking_send(c).is_err() {
                    return;
                }
            }
            if follow_it {
                follow(path, BufReader::new(file), opts, phase, tx, &rt, POLL);
            }
        });
        Ok(stream_of(rx))
    }

    pub(super) fn attach(&self, id: &str, opts: AttachOptions) -> BackendResult<Attachment> {
        let (full, path, mut file, phase) = self.open_log(id)?;
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
        std::thread::spawn(move || {
            follow(path, BufReader::new(file), log_opts, phase, tx, &rt, POLL)
        });
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

    /// A follower over a fresh log holding `first`, its phase sender, its output and its
    /// thread; the temp dir and runtime live as long as the returned guard.
    struct Following {
        rt: tokio::runtime::Runtime,
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        phase: watch::Sender<Phase>,
        rx: mpsc::Receiver<LogChunk>,
        thread: std::thread::JoinHandle<()>,
    }

    fn start_following(first: &str, every: Duration) -> Following {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        std::fs::write(&path, line(first)).unwrap();
        let (phase_tx, phase) = watch::channel(Phase::Running);
        let (tx, rx) = mpsc::channel(8);
        let handle = rt.handle().clone();
        let reader = BufReader::new(std::fs::File::open(&path).unwrap());
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..LogsOptions::default()
        };
        let at = path.clone();
        let thread =
            std::thread::spawn(move || follow(at, reader, opts, phase, tx, &handle, every));
        Following {
            rt,
            _dir: dir,
            path,
            phase: phase_tx,
            rx,
            thread,
        }
    }

    /// Regression: a follower slept a whole poll interval before it noticed the container had
    /// ended, so every `run` of a short command took at least that long. With an interval of
    /// an hour, the follower must still end as soon as the phase changes, output drained.
    #[test]
    fn a_follower_ends_with_the_container_not_with_its_poll_interval() {
        let Following {
            rt,
            _dir,
            path,
            phase: phase_tx,
            mut rx,
            thread: follower,
        } = start_following("first", Duration::from_secs(3600));
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

    /// A follower carries on into the new file when the shim rotates the log (`max-size`)
    /// and from the start when it empties it (`max-file` 1), losing no whole line.
    #[test]
    fn a_follower_reads_on_across_rotation_and_emptying() {
        let Following {
            rt: _rt,
            _dir,
            path,
            phase: phase_tx,
            mut rx,
            thread: follower,
        } = start_following("one", Duration::from_millis(10));
        assert_eq!(&rx.blocking_recv().unwrap().data[..], b"one\n");
        // Rotation: the file moves to `.1`, a new one takes its name.
        std::fs::rename(&path, berth_runtime::json_log::rotated(&path, 1)).unwrap();
        std::fs::write(&path, line("two")).unwrap();
        assert_eq!(&rx.blocking_recv().unwrap().data[..], b"two\n");
        // Emptied in place, then written again: read from its start.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(0).unwrap();
        drop(f);
        std::fs::write(&path, line("3")).unwrap();
        assert_eq!(&rx.blocking_recv().unwrap().data[..], b"3\n");
        phase_tx.send_replace(Phase::Exited(0));
        follower.join().unwrap();
    }
}
