//! Interactive sessions on the user's terminal: raw mode (restored on every exit path by a
//! guard), the terminal size sent on start and on every `SIGWINCH`, stdin copied to the
//! session, output copied to stdout/stderr. Detach keys (ctrl-p ctrl-q) are the engine's: it
//! ends the session and leaves the container running.

use std::io::{IsTerminal as _, Write as _};
use std::os::fd::AsFd;

use anyhow::Context as _;
use berth_engine::client::{LogOutput, Session};
use futures_util::{Stream, StreamExt as _};
use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::AsyncWriteExt as _;

/// The terminal of stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode; `None` when stdin is not a terminal.
    pub fn enable() -> anyhow::Result<Option<Self>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = termios::tcgetattr(stdin.as_fd()).context("reading the terminal mode")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .context("setting the terminal to raw mode")?;
        Ok(Some(Self { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Rows and columns of the terminal on stdout (or stdin), if there is one.
pub fn size() -> Option<(u16, u16)> {
    let of = |fd: std::os::fd::BorrowedFd<'_>| {
        let mut ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize through a live pointer.
        let rc = unsafe {
            nix::libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                nix::libc::TIOCGWINSZ,
                &mut ws,
            )
        };
        (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
    };
    of(std::io::stdout().as_fd()).or_else(|| of(std::io::stdin().as_fd()))
}

/// Whether stdin is a terminal (compose verbs allocate one then, as `docker compose` does).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Docker's detach keys: ctrl-p ctrl-q.
const DETACH: [u8; 2] = [0x10, 0x11];

/// Runs `session` until its output ends: stdin goes in (when `input`), output comes out, and
/// `resize` is called with the terminal size now and on every window change. True when the
/// user typed the detach keys (the engine ends the session then; the container runs on).
pub async fn interact<R, F>(session: Session, input: bool, resize: R) -> anyhow::Result<bool>
where
    R: Fn(u16, u16) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send,
{
    let Session {
        mut output,
        input: mut to_engine,
    } = session;
    if let Some((rows, cols)) = size() {
        resize(rows, cols).await;
    }
    let winch = tokio::spawn(async move {
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            if let Some((rows, cols)) = size() {
                resize(rows, cols).await;
            }
        }
    });
    let detached = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pump = match input {
        true => {
            let seen = std::sync::Arc::clone(&detached);
            // A plain thread: a read blocked on the terminal must not hold the runtime's
            // shutdown; the process exits without waiting for it.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut stdin = std::io::stdin().lock();
                let mut last = 0u8;
                loop {
                    match std::io::Read::read(&mut stdin, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            for b in &buf[..n] {
                                if [last, *b] == DETACH {
                                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                                }
                                last = *b;
                            }
                            if tx.blocking_send(buf[..n].to_vec()).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            Some(tokio::spawn(async move {
                while let Some(data) = rx.recv().await {
                    if to_engine.write_all(&data).await.is_err() {
                        return;
                    }
                }
                // End of input: half-close, the output keeps coming.
                let _ = to_engine.shutdown().await;
                std::future::pending::<()>().await;
            }))
        }
        false => {
            // Keep the connection's write half open until the output ends.
            Some(tokio::spawn(async move {
                let _keep = to_engine;
                std::future::pending::<()>().await;
            }))
        }
    };
    let result = copy_output(&mut output).await;
    winch.abort();
    if let Some(p) = pump {
        p.abort();
    }
    result.map(|()| detached.load(std::sync::atomic::Ordering::SeqCst))
}

/// Copies container output to this process's stdout and stderr until the stream ends.
pub async fn copy_output<S>(mut stream: S) -> anyhow::Result<()>
where
    S: Stream<Item = Result<LogOutput, berth_engine::client::ClientError>> + Unpin,
{
    while let Some(piece) = stream.next().await {
        match piece? {
            LogOutput::StdOut(b) | LogOutput::Console(b) | LogOutput::StdIn(b) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&b)?;
                out.flush()?;
            }
            LogOutput::StdErr(b) => {
                let mut err = std::io::stderr().lock();
                err.write_all(&b)?;
                err.flush()?;
            }
        }
    }
    Ok(())
}

/// Writes container output to our standard output and error.
pub fn print_output(piece: &LogOutput) {
    match piece {
        LogOutput::StdErr(b) => {
            let _ = std::io::stderr().lock().write_all(b);
        }
        LogOutput::StdOut(b) | LogOutput::Console(b) | LogOutput::StdIn(b) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b);
            let _ = out.flush();
        }
    }
}
