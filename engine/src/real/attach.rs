//! Attaching to interactive containers (a terminal or an open stdin) through their shim's
//! attach channel (`attach.sock`, see `berth_runtime::shim_io`): live output, stdin, resizes.
//! Docker clients attach before they start a container; such an attach waits, and the start
//! connects it to the shim before the container's process runs, so no output is missed.
//! Detach keys (ctrl-p ctrl-q) typed into a terminal end the attachment and leave the
//! container running.

use std::collections::HashMap;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use berth_runtime::shim_io;
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{oneshot, watch};

use super::{Phase, RealBackend};
use crate::backend::{
    AttachOptions, Attachment, BackendError, BackendResult, BoxStream, ErrorKind, LogChunk,
    LogSource,
};

/// Docker's default detach keys: ctrl-p ctrl-q.
pub const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Attachments waiting for their container to start, by container id.
pub(super) type Waiting = Mutex<HashMap<String, Vec<Waiter>>>;

/// One attachment waiting for the start: its hello and where the connected socket goes.
pub(super) struct Waiter {
    hello: Vec<u8>,
    tx: oneshot::Sender<StdUnixStream>,
}

/// Marks an interactive container's spec so its shim keeps stdin open (`OpenStdin`) and
/// closes it after the first attach (`StdinOnce`).
pub(super) fn annotate(spec: &mut oci_spec::runtime::Spec, open_stdin: bool, stdin_once: bool) {
    let mut notes = spec.annotations().clone().unwrap_or_default();
    if open_stdin {
        notes.insert(shim_io::OPEN_STDIN.to_owned(), "true".to_owned());
    }
    if open_stdin && stdin_once {
        notes.insert(shim_io::STDIN_ONCE.to_owned(), "true".to_owned());
    }
    spec.set_annotations(Some(notes));
}

/// Finds Docker's detach sequence in input typed on a terminal. `matched` carries a prefix
/// seen at the end of the previous chunk. Returns how many bytes of `data` to forward and
/// whether the sequence was completed.
pub(super) fn scan_detach(data: &[u8], matched: &mut usize) -> (usize, bool) {
    for (i, b) in data.iter().enumerate() {
        if *b == DETACH_KEYS[*matched] {
            *matched += 1;
            if *matched == DETACH_KEYS.len() {
                return (i + 1 - DETACH_KEYS.len().min(i + 1), true);
            }
        } else {
            *matched = usize::from(*b == DETACH_KEYS[0]);
        }
    }
    (data.len(), false)
}

fn unavailable(e: std::io::Error) -> BackendError {
    BackendError::new(
        ErrorKind::Internal,
        "cannot reach the container's attach channel",
    )
    .with_source(e)
}

impl RealBackend {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Waiter>>> {
        self.inner
            .attach_waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn socket(&self, id: &str) -> PathBuf {
        self.inner.paths.container(id).join(shim_io::SOCKET)
    }

    fn open_channel(&self, id: &str, hello: &[u8]) -> std::io::Result<StdUnixStream> {
        let mut s = shim_io::connect(&self.socket(id), &self.inner.paths.proc_root)?;
        std::io::Write::write_all(&mut s, hello)?;
        Ok(s)
    }

    /// Whether container `id` (full id) talks through its shim's attach channel.
    pub(super) fn interactive(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|e| {
            let c = &e.record.body.config;
            c.tty || c.open_stdin
        })
    }

    /// Connects the attachments waiting for container `id`; called by the start once the shim
    /// runs and before the container's process is released.
    pub(super) fn connect_waiting(&self, id: &str) {
        let waiters = self.waiting().remove(id).unwrap_or_default();
        for w in waiters {
            match self.open_channel(id, &w.hello) {
                Ok(s) => {
                    let _ = w.tx.send(s);
                }
                Err(e) => tracing::warn!(container = %id, error = %e, "attach not connected"),
            }
        }
    }

    /// Attaches to interactive container `full`.
    pub(super) fn attach_channel(
        &self,
        full: &str,
        opts: AttachOptions,
        mut phase: watch::Receiver<Phase>,
    ) -> BackendResult<Attachment> {
        let (tty, open_stdin) = self
            .lock()
            .get(full)
            .map(|e| (e.record.body.config.tty, e.record.body.config.open_stdin))
            .unwrap_or_default();
        let hello = shim_io::hello(opts.stdin && open_stdin, opts.stdout || opts.stderr);
        let now = *phase.borrow();
        let (tx, rx) = oneshot::channel();
        match now {
            Phase::Running => {
                let s = self.open_channel(full, &hello).map_err(unavailable)?;
                let _ = tx.send(s);
            }
            Phase::Created => self
                .waiting()
                .entry(full.to_owned())
                .or_default()
                .push(Waiter {
                    hello: hello.clone(),
                    tx,
                }),
            _ => {
                return Err(BackendError::conflict(
                    "You cannot attach to a stopped container, start it first",
                ));
            }
        }
        let this = self.clone();
        let id = full.to_owned();
        // The socket: handed over by the start, or connected here once the container runs
        // (an attach that raced with the start).
        let connected = async move {
            tokio::select! {
                biased;
                s = rx => s.ok(),
                now = phase.wait_for(|p| *p != Phase::Created) => {
                    let running = now.is_ok_and(|p| *p == Phase::Running);
                    match running {
                        true => this.open_channel(&id, &hello).ok(),
                        false => None,
                    }
                }
            }
        };
        let (sock_tx, sock_rx) = oneshot::channel::<tokio::net::unix::OwnedReadHalf>();
        let (writer_tx, writer_rx) = oneshot::channel();
        let (detach_tx, detach_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let Some(s) = connected.await else { return };
            let s = s
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(s));
            if let Ok(s) = s {
                let (r, w) = s.into_split();
                let _ = writer_tx.send(w);
                let _ = sock_tx.send(r);
            }
        });
        let stdin = match opts.stdin && open_stdin {
            true => {
                let (ours, theirs) = tokio::io::duplex(64 * 1024);
                Some((ours, theirs))
            }
            false => None,
        };
        let (alive_tx, alive_rx) = oneshot::channel::<()>();
        let (client_side, engine_side) = match stdin {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        tokio::spawn(forward_input(
            writer_rx,
            engine_side,
            tty,
            detach_tx,
            alive_rx,
        ));
        let output = output_stream(sock_rx, opts, detach_rx, alive_tx);
        Ok(Attachment {
            output,
            stdin: client_side.map(|s| {
                let s: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>> = Box::pin(s);
                s
            }),
            tty,
        })
    }

    /// Resizes the terminal of running container `id`.
    pub(super) fn resize_tty(&self, id: &str, rows: u16, cols: u16) -> BackendResult<()> {
        let full = self.resolve(id)?;
        let (running, tty) = self
            .lock()
            .get(&full)
            .map(|e| (e.record.running, e.record.body.config.tty))
            .unwrap_or_default();
        if !running {
            return Err(BackendError::conflict(format!(
                "Container {full} is not running"
            )));
        }
        if !tty {
            return Ok(());
        }
        let mut frames = shim_io::hello(false, false);
        frames.extend(shim_io::resize(rows, cols));
        self.open_channel(&full, &frames).map_err(unavailable)?;
        Ok(())
    }

    /// Resizes the terminal of exec `exec_pid`'s process: its stdin is the terminal's peer.
    pub(super) async fn resize_exec_tty(
        &self,
        pid_file: PathBuf,
        rows: u16,
        cols: u16,
    ) -> BackendResult<()> {
        // The runner writes the pid right after the process starts; clients resize at once.
        let mut pid = None;
        for _ in 0..100 {
            pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if pid.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let Some(pid) = pid else {
            return Err(BackendError::conflict("the exec process is not running"));
        };
        let path = self.inner.paths.proc_root.join(format!("{pid}/fd/0"));
        set_peer_size(&path, rows, cols).map_err(|e| {
            BackendError::new(ErrorKind::Internal, "cannot resize the exec terminal").with_source(e)
        })
    }
}

/// Unix98 pty peers are character devices with majors 136 to 143.
fn is_pty_peer(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let major = nix::sys::stat::major(meta.rdev());
    meta.file_type().is_char_device() && (136..=143).contains(&major)
}

/// Sets the size of the terminal whose peer `path` names, after checking it is one.
fn set_peer_size(path: &std::path::Path, rows: u16, cols: u16) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if !is_pty_peer(&std::fs::metadata(path)?) {
        return Err(std::io::Error::other("not a terminal"));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    if !is_pty_peer(&f.metadata()?) {
        return Err(std::io::Error::other("not a terminal"));
    }
    shim_io::set_size(std::os::fd::AsFd::as_fd(&f), rows, cols)
}

/// Sends the client's input to the shim as stdin frames; at its end, says so and keeps the
/// connection open until the output side is done (`alive`).
async fn forward_input(
    writer: oneshot::Receiver<tokio::net::unix::OwnedWriteHalf>,
    input: Option<tokio::io::DuplexStream>,
    tty: bool,
    detach: oneshot::Sender<()>,
    alive: oneshot::Receiver<()>,
) {
    let Ok(mut w) = writer.await else { return };
    if let Some(mut input) = input {
        let mut buf = vec![0u8; 16 * 1024];
        let mut matched = 0;
        loop {
            let n = match input.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let (send, detached) = match tty {
                true => scan_detach(&buf[..n], &mut matched),
                false => (n, false),
            };
            if send > 0
                && w.write_all(&shim_io::encode(shim_io::STDIN, &buf[..send]))
                    .await
                    .is_err()
            {
                return;
            }
            if detached {
                let _ = detach.send(());
                return;
            }
        }
        let _ = w
            .write_all(&shim_io::encode(shim_io::CLOSE_STDIN, &[]))
            .await;
    }
    let _ = alive.await;
}

/// The output frames of the channel as chunks, ending with the channel or a detach.
fn output_stream(
    sock: oneshot::Receiver<tokio::net::unix::OwnedReadHalf>,
    opts: AttachOptions,
    detach: oneshot::Receiver<()>,
    alive: oneshot::Sender<()>,
) -> BoxStream<BackendResult<LogChunk>> {
    struct State {
        sock: Option<tokio::net::unix::OwnedReadHalf>,
        pending: Option<oneshot::Receiver<tokio::net::unix::OwnedReadHalf>>,
        buf: Vec<u8>,
        ready: std::collections::VecDeque<LogChunk>,
        detach: oneshot::Receiver<()>,
        _alive: oneshot::Sender<()>,
        opts: AttachOptions,
    }
    let state = State {
        sock: None,
        pending: Some(sock),
        buf: Vec::new(),
        ready: Default::default(),
        detach,
        _alive: alive,
        opts,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(c) = st.ready.pop_front() {
                return Some((Ok(c), st));
            }
            if st.sock.is_none() {
                let pending = st.pending.take()?;
                st.sock = Some(pending.await.ok()?);
            }
            let mut chunk = vec![0u8; 32 * 1024];
            let sock = st.sock.as_mut()?;
            let n = tokio::select! {
                r = sock.read(&mut chunk) => r.ok().filter(|n| *n > 0)?,
                _ = &mut st.detach => return None,
            };
            st.buf.extend_from_slice(&chunk[..n]);
            let frames = shim_io::decode(&mut st.buf).ok()?;
            for f in frames {
                let (source, wanted) = match f.kind {
                    shim_io::STDERR => (LogSource::Stderr, st.opts.stderr),
                    _ => (LogSource::Stdout, st.opts.stdout),
                };
                if wanted {
                    st.ready.push_back(LogChunk {
                        source,
                        data: Bytes::from(f.payload),
                    });
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_end_input_even_across_chunks() {
        let mut m = 0;
        assert_eq!(scan_detach(b"ls\n", &mut m), (3, false));
        assert_eq!(scan_detach(b"ab\x10\x11cd", &mut m), (2, true));
        let mut m = 0;
        assert_eq!(scan_detach(b"x\x10", &mut m), (2, false));
        assert_eq!(m, 1);
        assert_eq!(scan_detach(b"\x11", &mut m), (0, true));
        let mut m = 0;
        assert_eq!(scan_detach(b"\x10a\x11", &mut m), (3, false));
    }

    #[test]
    fn annotations_carry_open_stdin_and_stdin_once() {
        let mut spec = oci_spec::runtime::Spec::default();
        annotate(&mut spec, true, true);
        let notes = spec.annotations().clone().unwrap();
        assert_eq!(notes[shim_io::OPEN_STDIN], "true");
        assert_eq!(notes[shim_io::STDIN_ONCE], "true");
        let mut spec = oci_spec::runtime::Spec::default();
        annotate(&mut spec, false, true);
        assert!(spec.annotations().clone().unwrap_or_default().is_empty());
    }
}
