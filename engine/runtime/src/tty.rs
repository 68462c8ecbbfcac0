//! Terminals for container processes. As runc does, the pseudo-terminal is opened inside the
//! container (its own `devpts` instance, after entering the mount namespace), the process makes
//! the peer its controlling terminal, and the master end travels to the caller over a unix
//! socket (`SCM_RIGHTS`). The caller then relays its stdio to and from the master.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};

use crate::init::InitError;

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> InitError {
    move |source| InitError::Sys {
        op: op.into(),
        source,
    }
}

fn last(op: &'static str) -> InitError {
    InitError::Io {
        op: op.into(),
        source: std::io::Error::last_os_error(),
    }
}

/// A connected pair of unix sockets for handing over the master descriptor.
pub(crate) fn channel() -> Result<(OwnedFd, OwnedFd), nix::Error> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Opens a pty in the current mount namespace's `/dev/ptmx`, makes its peer the controlling
/// terminal and stdin/stdout/stderr of this process, and sends the master over `sock`.
pub(crate) fn attach_new_terminal(sock: &OwnedFd) -> Result<(), InitError> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open /dev/ptmx"))?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a live pointer; `master` is an open pty master.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(last("unlock pty"));
    }
    // SAFETY: TIOCGPTPEER returns a new descriptor for the peer of an open master.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if peer < 0 {
        return Err(last("open pty peer"));
    }
    // SAFETY: `peer` is a fresh descriptor nothing else owns.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    nix::unistd::setsid().map_err(sys("setsid"))?;
    // SAFETY: TIOCSCTTY with argument 0 on our own terminal descriptor.
    if unsafe { libc::ioctl(peer.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(last("set controlling terminal"));
    }
    nix::unistd::dup2_stdin(&peer).map_err(sys("dup2 tty"))?;
    nix::unistd::dup2_stdout(&peer).map_err(sys("dup2 tty"))?;
    nix::unistd::dup2_stderr(&peer).map_err(sys("dup2 tty"))?;
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(b"t")],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map_err(sys("send pty master"))?;
    Ok(())
}

/// Receives the master descriptor sent by [`attach_new_terminal`].
pub(crate) fn receive_master(sock: &OwnedFd) -> Result<OwnedFd, nix::Error> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(nix::Error::EBADMSG)
}

fn write_all(fd: impl AsFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(&fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Copies this process's stdin to `master` and `master` to stdout until the terminal closes
/// (the process and its children have exited).
pub fn relay(master: &OwnedFd) {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let (master_ready, stdin_ready) = (ready(&fds[0]), fds.get(1).is_some_and(ready));
        drop(fds);
        if master_ready {
            match nix::unistd::read(master, &mut buf) {
                Ok(0) | Err(nix::Error::EIO) => return,
                Ok(n) => {
                    if !write_all(&stdout, &buf[..n]) {
                        return;
                    }
                }
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(_) => return,
            }
        }
        if stdin_ready {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) | Err(_) => {
                    // End of input: the terminal sees end-of-file (Ctrl-D).
                    stdin_open = false;
                    let _ = write_all(master, &[4]);
                }
                Ok(n) => {
                    if !write_all(master, &buf[..n]) {
                        stdin_open = false;
                    }
                }
            }
        }
    }
}
