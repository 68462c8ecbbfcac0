//! The shim's attach channel. An interactive container (a terminal, or an open stdin) has its
//! stdio owned by the shim, not by the engine: the shim holds the pty master (or the write end
//! of the stdin pipe), keeps logging the output, and serves a unix socket (`attach.sock`, mode
//! 0600, next to the exit record) through which any number of clients receive live output and
//! send input and terminal resizes. The engine is just one such client, so an engine that is
//! killed and restarted simply connects again.
//!
//! Wire format, both ways: one kind byte, a big-endian `u32` length, the payload. Clients send
//! [`HELLO`] (flags: [`HELLO_STDIN`], [`HELLO_OUTPUT`]), [`STDIN`] data, [`CLOSE_STDIN`] and
//! [`RESIZE`] (rows, columns as big-endian `u16`); the shim sends output as [`STDOUT`] or
//! [`STDERR`] frames (Docker's stream numbers). A client receives output from the moment it
//! connects until it says otherwise in its hello.

use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::shim::ShimError;

/// File name of the attach socket, in the directory of the shim's exit record.
pub const SOCKET: &str = "attach.sock";
/// Spec annotation: the container keeps a stdin the shim writes to (`OpenStdin`).
pub const OPEN_STDIN: &str = "io.berth.open-stdin";
/// Spec annotation: stdin is closed when the first client attached to it leaves (`StdinOnce`).
pub const STDIN_ONCE: &str = "io.berth.stdin-once";

/// Client frame: flags of this client (one byte).
pub const HELLO: u8 = b'h';
/// Client frame: bytes for the container's stdin.
pub const STDIN: u8 = b'i';
/// Client frame: this client's input ended.
pub const CLOSE_STDIN: u8 = b'c';
/// Client frame: new terminal size (rows, columns).
pub const RESIZE: u8 = b'r';
/// Shim frame: standard output (the only stream of a terminal).
pub const STDOUT: u8 = 1;
/// Shim frame: standard error.
pub const STDERR: u8 = 2;
/// Hello flag: this client writes the container's stdin.
pub const HELLO_STDIN: u8 = 1;
/// Hello flag: this client wants output.
pub const HELLO_OUTPUT: u8 = 2;

/// Largest frame accepted.
const MAX_FRAME: usize = 1 << 20;
/// Output buffered for a client that does not read before it is dropped.
const CLIENT_BACKLOG: usize = 8 << 20;
/// Input buffered for a container that does not read before clients are no longer read.
const STDIN_BACKLOG: usize = 1 << 20;
/// Milliseconds without events after activity before [`serve`]'s `on_idle` runs again.
const QUIET_MS: u16 = 10_000;

/// A frame that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// Its announced length is past [`MAX_FRAME`].
    #[error("attach frame of {0} bytes is too large")]
    TooLarge(usize),
}

/// One frame of the attach channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it carries.
    pub kind: u8,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// Encodes one frame.
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The hello frame of a client.
pub fn hello(stdin: bool, output: bool) -> Vec<u8> {
    let flags = (u8::from(stdin) * HELLO_STDIN) | (u8::from(output) * HELLO_OUTPUT);
    encode(HELLO, &[flags])
}

/// A resize frame.
pub fn resize(rows: u16, cols: u16) -> Vec<u8> {
    let mut p = rows.to_be_bytes().to_vec();
    p.extend_from_slice(&cols.to_be_bytes());
    encode(RESIZE, &p)
}

/// Takes the complete frames off the front of `buf`, leaving a partial one in it.
pub fn decode(buf: &mut Vec<u8>) -> Result<Vec<Frame>, FrameError> {
    let mut frames = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 5 {
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]);
        let len = len as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if buf.len() - at - 5 < len {
            break;
        }
        frames.push(Frame {
            kind: buf[at],
            payload: buf[at + 5..at + 5 + len].to_vec(),
        });
        at += 5 + len;
    }
    buf.drain(..at);
    Ok(frames)
}

/// The attach socket of a container whose shim writes its exit record to `exit_file`.
pub fn socket_path(exit_file: &Path) -> PathBuf {
    exit_file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(SOCKET)
}

/// Calls `f` with a name for `path` short enough for a unix socket address: the path itself,
/// or, when too long, the file name under its directory opened through `proc_root`.
fn with_short_path<T>(
    path: &Path,
    proc_root: &Path,
    f: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    if path.as_os_str().len() < 100 {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    let dir = std::fs::File::open(dir)?;
    f(&proc_root
        .join("self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name))
}

/// Connects to the attach socket at `path` (`proc_root` serves over-long paths).
pub fn connect(path: &Path, proc_root: &Path) -> std::io::Result<UnixStream> {
    with_short_path(path, proc_root, |p| UnixStream::connect(p))
}

/// Binds the attach socket at `path`, mode 0600, replacing a stale one.
pub fn bind(path: &Path, proc_root: &Path) -> Result<UnixListener, ShimError> {
    let err = |source| ShimError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    // The shim is single-threaded: the umask change cannot race another file creation.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = with_short_path(path, proc_root, |p| UnixListener::bind(p));
    nix::sys::stat::umask(old);
    let listener = listener.map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

/// The container's stdio as the shim holds it.
#[derive(Debug)]
pub struct Stdio {
    /// Output sources with their stream number ([`STDOUT`], [`STDERR`]).
    pub outputs: Vec<(u8, OwnedFd)>,
    /// Where input goes: the stdin pipe or the pty master.
    pub stdin: Option<OwnedFd>,
    /// The pty master, for resizes.
    pub terminal: Option<OwnedFd>,
    /// Close stdin when the first client attached to it leaves (never for a terminal).
    pub stdin_once: bool,
}

struct Client {
    sock: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    stdin: bool,
    output: bool,
}

fn nonblocking(fd: BorrowedFd<'_>) -> Result<(), ShimError> {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).map_err(sys("fcntl"))?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags)).map_err(sys("fcntl"))?;
    Ok(())
}

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> ShimError {
    move |source| ShimError::Sys { op, source }
}

/// Sets the window size of the terminal whose master is `fd`.
pub fn set_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a live pointer.
    match unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// What one poll round found ready.
#[derive(Default)]
struct Ready {
    outputs: Vec<bool>,
    listener: bool,
    stdin: bool,
    clients: Vec<(bool, bool)>,
}

fn revents(f: &PollFd<'_>) -> PollFlags {
    f.revents().unwrap_or(PollFlags::empty())
}

/// The running channel: stdio, clients, and the input waiting for the container.
struct Channel {
    io: Stdio,
    open: Vec<bool>,
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    stdin_buf: Vec<u8>,
    stdin_closing: bool,
}

impl Channel {
    /// Waits for the next events, or `None` when `timeout` passes first. `before_block` runs
    /// right before the process blocks, when the fds to wait on are ready.
    fn wait(
        &self,
        timeout: PollTimeout,
        before_block: Option<&mut impl FnMut()>,
    ) -> Result<Option<Ready>, ShimError> {
        let mut fds = Vec::new();
        // An ended output is left out: poll reports POLLHUP even for no events, which would
        // spin the loop while the other output stays open.
        for (i, (_, fd)) in self.io.outputs.iter().enumerate() {
            if self.open[i] {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(l) = &self.listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        if let Some(s) = &self.io.stdin {
            let ev = match self.stdin_buf.is_empty() {
                true => PollFlags::empty(),
                false => PollFlags::POLLOUT,
            };
            fds.push(PollFd::new(s.as_fd(), ev));
        }
        for c in &self.clients {
            let mut ev = PollFlags::empty();
            if self.stdin_buf.len() < STDIN_BACKLOG {
                ev |= PollFlags::POLLIN;
            }
            if !c.outbuf.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.sock.as_fd(), ev));
        }
        if let Some(f) = before_block {
            f();
        }
        let n = loop {
            match poll(&mut fds, timeout) {
                Err(nix::Error::EINTR) => continue,
                other => break other.map_err(sys("poll"))?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let mut it = fds.iter();
        let mut ready = Ready::default();
        for open in &self.open {
            let ready_now = *open && it.next().is_some_and(|f| !revents(f).is_empty());
            ready.outputs.push(ready_now);
        }
        if self.listener.is_some() {
            ready.listener = it.next().is_some_and(|f| !revents(f).is_empty());
        }
        if self.io.stdin.is_some() {
            ready.stdin = it.next().is_some_and(|f| !revents(f).is_empty());
        }
        for f in it {
            let r = revents(f);
            ready.clients.push((
                r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR),
                r.contains(PollFlags::POLLOUT),
            ));
        }
        Ok(Some(ready))
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        while let Ok((sock, _)) = l.accept() {
            if sock.set_nonblocking(true).is_ok() {
                self.clients.push(Client {
                    sock,
                    inbuf: Vec::new(),
                    outbuf: Vec::new(),
                    stdin: false,
                    output: true,
                });
            }
        }
    }

    fn close_stdin(&mut self) {
        self.stdin_closing = true;
        if self.stdin_buf.is_empty() {
            self.io.stdin = None;
        }
    }

    /// Handles a client's frames; false when the client must go.
    fn client_frames(&mut self, i: usize) -> bool {
        let frames = match decode(&mut self.clients[i].inbuf) {
            Ok(f) => f,
            Err(_) => return false,
        };
        for f in frames {
            match f.kind {
                HELLO => {
                    let flags = f.payload.first().copied().unwrap_or(0);
                    self.clients[i].stdin = flags & HELLO_STDIN != 0;
                    self.clients[i].output = flags & HELLO_OUTPUT != 0;
                    if !self.clients[i].output {
                        self.clients[i].outbuf.clear();
                    }
                }
                STDIN if self.clients[i].stdin && !self.stdin_closing => {
                    self.stdin_buf.extend_from_slice(&f.payload);
                }
                CLOSE_STDIN if self.io.stdin_once && self.io.terminal.is_none() => {
                    self.close_stdin();
                }
                RESIZE if f.payload.len() == 4 => {
                    if let Some(t) = &self.io.terminal {
                        let rows = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                        let cols = u16::from_be_bytes([f.payload[2], f.payload[3]]);
                        let _ = set_size(t.as_fd(), rows, cols);
                    }
                }
                _ => {}
            }
        }
        true
    }

    fn drop_client(&mut self, i: usize) {
        let c = self.clients.remove(i);
        if c.stdin && self.io.stdin_once && self.io.terminal.is_none() {
            self.close_stdin();
        }
    }

    fn client_io(&mut self, i: usize, readable: bool, writable: bool) -> bool {
        let mut buf = [0u8; 16 * 1024];
        if writable {
            let c = &mut self.clients[i];
            match c.sock.write(&c.outbuf) {
                Ok(n) => {
                    c.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
        }
        if readable {
            match nix::unistd::read(&self.clients[i].sock, &mut buf) {
                Ok(0) => return false,
                Ok(n) => self.clients[i].inbuf.extend_from_slice(&buf[..n]),
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
                Err(_) => return false,
            }
            return self.client_frames(i);
        }
        true
    }

    fn feed_stdin(&mut self) {
        let Some(s) = &self.io.stdin else {
            self.stdin_buf.clear();
            return;
        };
        match nix::unistd::write(s, &self.stdin_buf) {
            Ok(n) => {
                self.stdin_buf.drain(..n);
            }
            Err(nix::Error::EAGAIN | nix::Error::EINTR) => {}
            Err(_) => {
                // The container's reader is gone: input has nowhere to go.
                self.io.stdin = None;
                self.stdin_buf.clear();
            }
        }
        if self.stdin_closing && self.stdin_buf.is_empty() {
            self.io.stdin = None;
        }
    }

    fn broadcast(&mut self, kind: u8, data: &[u8]) {
        let frame = encode(kind, data);
        self.clients.retain_mut(|c| {
            if c.output {
                c.outbuf.extend_from_slice(&frame);
            }
            c.outbuf.len() <= CLIENT_BACKLOG
        });
    }

    /// Sends what clients still have buffered, waiting a little for slow ones.
    fn flush(&mut self) {
        for c in &mut self.clients {
            let _ = c.sock.set_nonblocking(false);
            let _ = c.sock.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = c.sock.write_all(&c.outbuf);
        }
    }
}

/// Serves the container's stdio until every output source has ended: `log` gets each output
/// chunk (stream number, bytes; an empty chunk at a stream's end), clients of `listener` get
/// it live and feed stdin. The socket is closed (and its file removed) on return. `on_idle`
/// runs right before the loop first blocks, and again after each [`QUIET_MS`] without events
/// that follows activity (the shim gives back memory there).
pub fn serve(
    io: Stdio,
    listener: Option<(UnixListener, PathBuf)>,
    mut log: impl FnMut(u8, &[u8]) -> Result<(), ShimError>,
    mut on_idle: impl FnMut(),
) -> Result<(), ShimError> {
    for (_, fd) in &io.outputs {
        nonblocking(fd.as_fd())?;
    }
    if let Some(s) = &io.stdin {
        nonblocking(s.as_fd())?;
    }
    let (listener, socket_file) = match listener {
        Some((l, p)) => (Some(l), Some(p)),
        None => (None, None),
    };
    let mut ch = Channel {
        open: vec![true; io.outputs.len()],
        io,
        listener,
        clients: Vec::new(),
        stdin_buf: Vec::new(),
        stdin_closing: false,
    };
    let result = run(&mut ch, &mut log, &mut on_idle);
    ch.flush();
    if let Some(p) = socket_file {
        let _ = std::fs::remove_file(p);
    }
    result
}

fn run(
    ch: &mut Channel,
    log: &mut impl FnMut(u8, &[u8]) -> Result<(), ShimError>,
    on_idle: &mut impl FnMut(),
) -> Result<(), ShimError> {
    let mut buf = vec![0u8; 32 * 1024];
    // `on_idle` runs right before the first block, then after each quiet spell that follows
    // activity: when it runs, nothing else is left to do until the next event. While active
    // the wait ends after the quiet spell; once idle (shed) it blocks until the next event.
    let mut active = false;
    while ch.open.iter().any(|o| *o) {
        let (timeout, before_block) = match active {
            true => (PollTimeout::from(QUIET_MS), None),
            false => (PollTimeout::NONE, Some(&mut *on_idle)),
        };
        let Some(ready) = ch.wait(timeout, before_block)? else {
            active = false;
            continue;
        };
        active = true;
        for (i, r) in ready.outputs.iter().enumerate() {
            if !*r || !ch.open[i] {
                continue;
            }
            let (kind, fd) = (&ch.io.outputs[i].0, &ch.io.outputs[i].1);
            let kind = *kind;
            match nix::unistd::read(fd, &mut buf) {
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                // A terminal reads EIO once every process holding its peer is gone.
                Ok(0) | Err(_) => {
                    ch.open[i] = false;
                    log(kind, &[])?;
                }
                Ok(n) => {
                    log(kind, &buf[..n])?;
                    ch.broadcast(kind, &buf[..n]);
                }
            }
        }
        if ready.listener {
            ch.accept();
        }
        if ready.stdin {
            ch.feed_stdin();
        }
        for i in (0..ready.clients.len()).rev() {
            let (r, w) = ready.clients[i];
            if (r || w) && !ch.client_io(i, r, w) {
                ch.drop_client(i);
            }
        }
        if !ch.stdin_buf.is_empty() {
            ch.feed_stdin();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn frames_round_trip_and_keep_a_partial_tail() {
        let mut buf = hello(true, false);
        buf.extend(encode(STDIN, b"ls\n"));
        buf.extend(resize(24, 80));
        let tail = encode(STDIN, b"partial");
        buf.extend_from_slice(&tail[..4]);
        let frames = decode(&mut buf).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[0],
            Frame {
                kind: HELLO,
                payload: vec![HELLO_STDIN]
            }
        );
        assert_eq!(frames[1].payload, b"ls\n");
        assert_eq!(frames[2].payload, [0, 24, 0, 80]);
        assert_eq!(buf, tail[..4]);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = vec![STDIN, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&mut buf),
            Err(FrameError::TooLarge(u32::MAX as usize))
        );
    }

    #[test]
    fn long_socket_paths_go_through_the_directory_descriptor() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join(SOCKET);
        let listener = bind(&path, Path::new("/proc")).unwrap();
        assert!(path.exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let _client = connect(&path, Path::new("/proc")).unwrap();
        drop(listener);
    }

    /// Regression: an ended output (its pipe hung up) must not wake the loop while the other
    /// output stays open, else the shim spins until the container closes both.
    #[test]
    fn an_ended_output_does_not_wake_the_loop() {
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        drop(out_w);
        let ch = Channel {
            open: vec![false, true],
            io: Stdio {
                outputs: vec![(STDOUT, out_r), (STDERR, err_r)],
                stdin: None,
                terminal: None,
                stdin_once: false,
            },
            listener: None,
            clients: Vec::new(),
            stdin_buf: Vec::new(),
            stdin_closing: false,
        };
        let quiet = ch
            .wait(PollTimeout::from(20u16), None::<&mut fn()>)
            .unwrap();
        assert!(quiet.is_none(), "woken by the ended output");
        nix::unistd::write(&err_w, b"x").unwrap();
        let ready = ch
            .wait(PollTimeout::NONE, None::<&mut fn()>)
            .unwrap()
            .unwrap();
        assert_eq!(ready.outputs, [false, true]);
    }

    /// A pipe-backed container: output reaches the log and a client; client input reaches
    /// stdin, which closes when the (stdin-once) client leaves.
    #[test]
    fn output_is_logged_and_relayed_and_stdin_once_closes_input() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(SOCKET);
        let listener = bind(&path, Path::new("/proc")).unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (in_r, in_w) = nix::unistd::pipe().unwrap();
        let io = Stdio {
            outputs: vec![(STDOUT, out_r)],
            stdin: Some(in_w),
            terminal: None,
            stdin_once: true,
        };
        let mut client = connect(&path, Path::new("/proc")).unwrap();
        let server = std::thread::spawn(move || {
            let mut logged = Vec::new();
            let mut idle = 0;
            serve(
                io,
                Some((listener, path)),
                |_, data| {
                    logged.extend_from_slice(data);
                    Ok(())
                },
                || idle += 1,
            )
            .unwrap();
            (logged, idle)
        });
        client.write_all(&hello(true, true)).unwrap();
        client.write_all(&encode(STDIN, b"ping\n")).unwrap();
        let mut input = std::fs::File::from(in_r);
        let mut got = [0u8; 5];
        input.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping\n");
        nix::unistd::write(&out_w, b"pong\n").unwrap();
        let mut frame = [0u8; 10];
        client.read_exact(&mut frame).unwrap();
        assert_eq!(frame[0], STDOUT);
        assert_eq!(&frame[5..], b"pong\n");
        drop(client);
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "stdin closed after the stdin-once client left"
        );
        drop(out_w);
        let (logged, idle) = server.join().unwrap();
        assert_eq!(logged, b"pong\n");
        // Before the first wait; the exchange ends well within the quiet spell.
        assert_eq!(idle, 1);
    }
}
